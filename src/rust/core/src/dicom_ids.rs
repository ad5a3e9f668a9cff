//! Orthanc's identifiers of a local DICOM file, computed without the server.
//!
//! Orthanc names a resource by the SHA-1 of the DICOM identifiers of its level and of the
//! levels above, joined by `|`, written as five groups of eight hex digits joined by `-`
//! (Orthanc Book, "Orthanc identifiers"; `DicomInstanceHasher` in the Orthanc sources):
//!
//! - patient: `SHA1(PatientID)`
//! - study: `SHA1(PatientID|StudyInstanceUID)`
//! - series: `SHA1(PatientID|StudyInstanceUID|SeriesInstanceUID)`
//! - instance: `SHA1(PatientID|StudyInstanceUID|SeriesInstanceUID|SOPInstanceUID)`
//!
//! The four tags are read with dicom-rs, stopping before the first element after
//! SeriesInstanceUID (0020,000E), so pixel data is never read.

use dicom_dictionary_std::tags;
use dicom_object::{OpenFileOptions, Tag};
use std::path::Path;

/// The Orthanc identifiers of one instance and of its parents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceIds {
    pub patient: String,
    pub study: String,
    pub series: String,
    pub instance: String,
}

/// The four DICOM identifiers of an instance, without their padding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DicomUids {
    pub patient_id: String,
    pub study_instance_uid: String,
    pub series_instance_uid: String,
    pub sop_instance_uid: String,
}

impl DicomUids {
    /// The Orthanc identifiers of this instance and of its parents.
    pub fn orthanc_ids(&self) -> InstanceIds {
        ids_from_tags(
            &self.patient_id,
            &self.study_instance_uid,
            &self.series_instance_uid,
            &self.sop_instance_uid,
        )
    }
}

/// Why the identifiers of a file could not be computed.
#[derive(Debug, thiserror::Error)]
pub enum DicomIdError {
    #[error("cannot read the file as DICOM: {0}")]
    Read(String),
    #[error("the file has no {0}")]
    Missing(&'static str),
}

/// Orthanc's way of writing a SHA-1: `xxxxxxxx-xxxxxxxx-xxxxxxxx-xxxxxxxx-xxxxxxxx`.
pub fn orthanc_hash(text: &str) -> String {
    let hex = sha1_smol::Sha1::from(text.as_bytes()).digest().to_string();
    let groups: Vec<&str> = (0..5).map(|i| &hex[i * 8..i * 8 + 8]).collect();
    groups.join("-")
}

/// The identifiers of an instance from its four DICOM identifiers (already trimmed).
pub fn ids_from_tags(
    patient_id: &str,
    study_uid: &str,
    series_uid: &str,
    sop_uid: &str,
) -> InstanceIds {
    let study_key = format!("{patient_id}|{study_uid}");
    let series_key = format!("{study_key}|{series_uid}");
    let instance_key = format!("{series_key}|{sop_uid}");
    InstanceIds {
        patient: orthanc_hash(patient_id),
        study: orthanc_hash(&study_key),
        series: orthanc_hash(&series_key),
        instance: orthanc_hash(&instance_key),
    }
}

/// A DICOM string value as Orthanc reads it: without the padding (spaces, NUL) at either end.
fn clean(value: &str) -> &str {
    value.trim_matches(|c| c == ' ' || c == '\0')
}

/// The first element after SeriesInstanceUID (0020,000E): reading stops there.
const READ_UNTIL: Tag = Tag(0x0020, 0x000F);

/// The Orthanc identifiers of a DICOM file (see [`read_uids`]).
pub fn read_ids(path: &Path) -> Result<InstanceIds, DicomIdError> {
    read_uids(path).map(|u| u.orthanc_ids())
}

/// Read the four identifying tags of a DICOM file (Part 10: preamble, "DICM", meta group).
/// A missing PatientID counts as empty, as in Orthanc; a missing UID is an error (Orthanc
/// refuses such a file).
pub fn read_uids(path: &Path) -> Result<DicomUids, DicomIdError> {
    let obj = OpenFileOptions::new()
        .read_until(READ_UNTIL)
        .open_file(path)
        .map_err(|e| DicomIdError::Read(e.to_string()))?;
    let text = |tag: Tag, name: &'static str| -> Result<Option<String>, DicomIdError> {
        match obj.element_opt(tag) {
            Ok(Some(el)) => match el.to_str() {
                Ok(s) => Ok(Some(clean(&s).to_string())),
                Err(_) => Err(DicomIdError::Missing(name)),
            },
            Ok(None) => Ok(None),
            Err(e) => Err(DicomIdError::Read(e.to_string())),
        }
    };
    let patient = text(tags::PATIENT_ID, "PatientID")?.unwrap_or_default();
    let uid = |tag: Tag, name: &'static str| -> Result<String, DicomIdError> {
        match text(tag, name)? {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(DicomIdError::Missing(name)),
        }
    };
    let study = uid(tags::STUDY_INSTANCE_UID, "StudyInstanceUID")?;
    let series = uid(tags::SERIES_INSTANCE_UID, "SeriesInstanceUID")?;
    let sop = uid(tags::SOP_INSTANCE_UID, "SOPInstanceUID")?;
    Ok(DicomUids {
        patient_id: patient,
        study_instance_uid: study,
        series_instance_uid: series,
        sop_instance_uid: sop,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_core::{DataElement, PrimitiveValue, VR};
    use dicom_object::{FileMetaTableBuilder, InMemDicomObject};

    #[test]
    fn hash_is_sha1_in_five_groups() {
        // SHA-1("abc") = a9993e364706816aba3e25717850c26c9cd0d89d (FIPS 180 test vector)
        assert_eq!(
            orthanc_hash("abc"),
            "a9993e36-4706816a-ba3e2571-7850c26c-9cd0d89d"
        );
        assert_eq!(
            orthanc_hash(""),
            "da39a3ee-5e6b4b0d-3255bfef-95601890-afd80709"
        );
    }

    #[test]
    fn ids_join_the_levels_with_bars() {
        let ids = ids_from_tags("P", "1.2", "1.2.3", "1.2.3.4");
        assert_eq!(ids.patient, orthanc_hash("P"));
        assert_eq!(ids.study, orthanc_hash("P|1.2"));
        assert_eq!(ids.series, orthanc_hash("P|1.2|1.2.3"));
        assert_eq!(ids.instance, orthanc_hash("P|1.2|1.2.3|1.2.3.4"));
    }

    fn write_dicom(
        dir: &Path,
        name: &str,
        patient: Option<&str>,
        sop: Option<&str>,
    ) -> std::path::PathBuf {
        let mut obj = InMemDicomObject::new_empty();
        let sop_uid = sop.unwrap_or("1.2.3.4.5");
        if let Some(p) = patient {
            obj.put(DataElement::new(
                tags::PATIENT_ID,
                VR::LO,
                PrimitiveValue::from(p),
            ));
        }
        obj.put(DataElement::new(
            tags::STUDY_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from("1.2.3\0"),
        ));
        obj.put(DataElement::new(
            tags::SERIES_INSTANCE_UID,
            VR::UI,
            PrimitiveValue::from("1.2.3.4"),
        ));
        if sop.is_some() || patient.is_some() {
            obj.put(DataElement::new(
                tags::SOP_INSTANCE_UID,
                VR::UI,
                PrimitiveValue::from(sop_uid),
            ));
        }
        obj.put(DataElement::new(
            tags::SOP_CLASS_UID,
            VR::UI,
            PrimitiveValue::from("1.2.840.10008.5.1.4.1.1.7"),
        ));
        obj.put(DataElement::new(
            Tag(0x0028, 0x0010),
            VR::US,
            PrimitiveValue::from(8_u16),
        ));
        let file = obj
            .with_meta(
                FileMetaTableBuilder::new()
                    .transfer_syntax("1.2.840.10008.1.2.1")
                    .media_storage_sop_class_uid("1.2.840.10008.5.1.4.1.1.7")
                    .media_storage_sop_instance_uid(sop_uid),
            )
            .expect("meta");
        let path = dir.join(name);
        file.write_to_file(&path).expect("write");
        path
    }

    fn temp_dir(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("orthanc-core-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    #[test]
    fn reads_the_ids_of_a_written_file() {
        let dir = temp_dir("ids");
        let path = write_dicom(&dir, "a.dcm", Some(" PAT 1 "), Some("1.2.3.4.5"));
        let ids = read_ids(&path).expect("ids");
        // Padding is not part of the value; the UID's NUL padding neither.
        assert_eq!(ids, ids_from_tags("PAT 1", "1.2.3", "1.2.3.4", "1.2.3.4.5"));
        // No PatientID: Orthanc hashes an empty one.
        let path = write_dicom(&dir, "b.dcm", None, Some("9.8"));
        assert_eq!(
            read_ids(&path).expect("ids"),
            ids_from_tags("", "1.2.3", "1.2.3.4", "9.8")
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn unreadable_files_are_errors() {
        let dir = temp_dir("bad");
        let text = dir.join("notes.txt");
        std::fs::write(&text, "not DICOM at all").expect("write");
        assert!(matches!(read_ids(&text), Err(DicomIdError::Read(_))));
        let mut garbage = vec![0u8; 128];
        garbage.extend_from_slice(b"DICM");
        garbage.extend_from_slice(&[0xff; 64]);
        let corrupt = dir.join("corrupt.dcm");
        std::fs::write(&corrupt, garbage).expect("write");
        assert!(read_ids(&corrupt).is_err());
        assert!(read_ids(&dir.join("missing.dcm")).is_err());
        // No SOPInstanceUID: Orthanc would refuse it, so there is no id.
        let path = write_dicom(&dir, "nosop.dcm", None, None);
        assert!(matches!(
            read_ids(&path),
            Err(DicomIdError::Missing("SOPInstanceUID"))
        ));
        std::fs::remove_dir_all(&dir).ok();
    }

    /// The sample files, when ORTHANC_TEST_DICOM points at them: every one gives ids.
    #[test]
    fn reads_the_shared_samples_when_present() {
        let Ok(root) = std::env::var("ORTHANC_TEST_DICOM") else {
            return;
        };
        let root = std::path::PathBuf::from(root);
        let mut stack = vec![root.join("Brainix"), root.join("Knee")];
        let mut n = 0;
        while let Some(p) = stack.pop() {
            if p.is_dir() {
                for e in std::fs::read_dir(&p).expect("dir").flatten() {
                    stack.push(e.path());
                }
            } else if p.extension().is_some_and(|e| e == "dcm") {
                read_ids(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
                n += 1;
            }
        }
        assert!(n > 0);
    }
}
