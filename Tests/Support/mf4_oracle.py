#!/usr/bin/env python3
"""Independent oracle for MF4Header: what asammdf and mdf_iter read from each file given.

Prints one JSON object a line: file, session_start_ns (asammdf's header abs_time), tz_offset
and dst_offset (minutes), time_flags, first_record_ns (mdf_iter's first measurement),
asammdf_first_record_ns (asammdf: session start + the smallest first master value over the
channel groups), fields (mdf_iter's HD comment metadata, name -> raw value), or error;
mdf_iter_error when asammdf reads the file and mdf_iter does not (it follows no DL, HL or DZ).
"""
import json
import sys
import warnings

warnings.filterwarnings("ignore")
import asammdf  # noqa: E402
import mdf_iter  # noqa: E402

for path in sys.argv[1:]:
    out = {"file": path}
    try:
        mdf = asammdf.MDF(path)
        header = mdf.header
        out["session_start_ns"] = int(header.abs_time)
        out["tz_offset"] = int(header.tz_offset)
        out["dst_offset"] = int(header.daylight_save_time)
        out["time_flags"] = int(header.time_flags)
        firsts = []
        for index in range(len(mdf.groups)):
            try:
                master = mdf.get_master(index)
            except Exception:
                continue
            if len(master):
                firsts.append(float(master[0]))
        if firsts:
            out["asammdf_first_record_ns"] = int(header.abs_time) + round(min(firsts) * 1e9)
        try:
            iterated = mdf_iter.MdfFile(path)
            out["first_record_ns"] = int(iterated.get_first_measurement())
            out["fields"] = {v["name"]: v["value_raw"] for v in iterated.get_metadata().values()}
        except Exception as error:  # mdf_iter reads no DL, HL or DZ block: asammdf alone is the oracle
            out["mdf_iter_error"] = f"{type(error).__name__}: {error}"[:200]
    except Exception as error:  # the file is not one asammdf reads
        out["error"] = f"{type(error).__name__}: {error}"[:200]
    print(json.dumps(out))
