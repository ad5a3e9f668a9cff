# Regenerate R/sysdata.rda: the keywords and value representations of the
# public DICOM tags (DICOM PS3.6 data dictionary), read from DCMTK's dicom.dic
# (Debian package libdcmtk17 or dcmtk). Used by as.data.frame() of a list of
# instances (`tags` argument) to name columns by keyword and to type values:
# Orthanc's answers give no value representation.
#
#   Rscript dev/dicom-dictionary.R [/usr/share/libdcmtk17/dicom.dic]
args <- commandArgs(trailingOnly = TRUE)
dic <- if (length(args)) args[1] else Sys.glob("/usr/share/libdcmtk*/dicom.dic")[1]
lines <- readLines(dic, warn = FALSE)
lines <- lines[!grepl("^#", lines) & nzchar(lines)]
f <- strsplit(lines, "\t", fixed = TRUE)
tag <- vapply(f, `[`, "", 1L)
keep <- grepl("^\\([0-9A-Fa-f]{4},[0-9A-Fa-f]{4}\\)$", tag) &
  vapply(f, `[`, "", 5L) %in% c("DICOM", "DICOM/retired", "DICOM/DICONDE", "DICOM/DICOS")
f <- f[keep]
dicom_dictionary <- data.frame(
  tag = toupper(gsub("[()]", "", vapply(f, `[`, "", 1L))),
  keyword = vapply(f, `[`, "", 3L),
  vr = vapply(f, `[`, "", 2L),
  stringsAsFactors = FALSE
)
dicom_dictionary <- dicom_dictionary[!duplicated(dicom_dictionary$tag), ]
dicom_dictionary <- dicom_dictionary[order(dicom_dictionary$tag), ]
rownames(dicom_dictionary) <- NULL
save(dicom_dictionary, file = "R/sysdata.rda", compress = "xz", version = 2)
cat(nrow(dicom_dictionary), "tags written to R/sysdata.rda\n")
