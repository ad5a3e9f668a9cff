"""The Python peer of W8 in bench/run.R: the same DICOMweb workloads done with
dicomweb-client (PyPI), in a process of its own. Prints one JSON line.

Settings from the environment: BENCH_URL, BENCH_USER, BENCH_PASS (the Orthanc
server; its DICOMweb plugin is at BENCH_URL/dicom-web).

  qido STUDY          search_for_instances(study_instance_uid=STUDY): a list of dicts
  wado STUDY DIR      iter_study(STUDY) (transfer syntax "*", streamed), each
                      dataset written to DIR/<SOPInstanceUID>.dcm with save_as()
  stow LISTFILE       store_instances() of the files named in LISTFILE (read
                      with pydicom.dcmread), in one request
"""

import json
import os
import resource
import sys
import time


def vm_rss_kb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main():
    import pydicom
    import requests
    from dicomweb_client.api import DICOMwebClient

    session = requests.Session()
    user = os.environ.get("BENCH_USER")
    if user:
        session.auth = (user, os.environ.get("BENCH_PASS", ""))
    url = os.environ["BENCH_URL"].rstrip("/") + "/dicom-web"
    # The default read timeout (20 s) is shorter than a STOW of 1,000 files on a busy server.
    client = DICOMwebClient(url=url, session=session, timeout=600)
    what = sys.argv[1]
    out = {}
    rss0 = vm_rss_kb()
    w0, c0 = time.perf_counter(), time.process_time()
    if what == "qido":
        found = client.search_for_instances(study_instance_uid=sys.argv[2])
        out["n"] = len(found)
    elif what == "wado":
        dest = sys.argv[3]
        n = 0
        for ds in client.iter_study(sys.argv[2], media_types=(("application/dicom", "*"),)):
            ds.save_as(os.path.join(dest, ds.SOPInstanceUID + ".dcm"))
            n += 1
        out["n"] = n
    elif what == "stow":
        with open(sys.argv[2]) as f:
            files = [line.strip() for line in f if line.strip()]
        # dicomweb-client sends a body larger than its chunk_size (1 MB by
        # default) with chunked transfer encoding, from which Orthanc's plugin
        # stores nothing (and answers 200): one body of known length instead.
        client.set_chunk_size(2**31 - 1)
        datasets = [pydicom.dcmread(p) for p in files]
        answer = client.store_instances(datasets)
        ref = answer.get("ReferencedSOPSequence") if answer is not None else None
        out["n"] = len(files)
        out["stored"] = len(ref) if ref is not None else 0
    else:
        sys.exit("usage: dicomweb-client.py qido|wado|stow ...")
    out["wall"] = time.perf_counter() - w0
    out["cpu"] = time.process_time() - c0
    out["rss_kb"] = rss0
    # ru_maxrss is the peak of the whole process, in KB on Linux.
    out["maxrss_kb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps(out))


if __name__ == "__main__":
    main()
