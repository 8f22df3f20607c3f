#!/usr/bin/env python3
"""Independent oracle for CANedge's log containers (MFC, MFE, MFM) and the MF4 inside them.

    container_oracle.py decode IN OUT [PASSWORD]
        The MF4 inside IN, decoded with heatshrink2 (decompression) and cryptography
        (PBKDF2-HMAC-SHA256 and AES-256-GCM, the tag checked), written to OUT. Exit 1 and a
        reason on stderr if the tag does not hold.
    container_oracle.py frames FILE...
        One JSON line per file: mdf_iter's first measurement and its CAN frames (count, first
        and last timestamps, ns), and asammdf's count of CAN_DataFrame records. mdf_iter reads
        MF4 and MFC; asammdf reads MF4 only.
"""
import json
import struct
import sys
import warnings

warnings.filterwarnings("ignore")

MAGIC = b"Generic File"


def decode(data, password):
    if data[:12] != MAGIC:
        return data
    kind = data[14]
    if kind == 0x22:
        import heatshrink2

        lookahead, window = struct.unpack(">II", data[20:28])
        bits = {256: 8, 512: 9, 1024: 10}[window]
        return heatshrink2.decompress(data[28:], window_sz2=bits, lookahead_sz2=lookahead)
    if kind == 0x11:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

        iv, iterations, salt = data[20:32], struct.unpack(">I", data[32:36])[0], data[36:52]
        key = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=iterations).derive(password.encode())
        inner = AESGCM(key).decrypt(iv, data[52:], data[:52])
        return decode(inner, password)
    raise SystemExit(f"unknown container type {kind:#x}")


def frames(path):
    out = {"file": path}
    import mdf_iter

    with open(path, "rb") as f:
        mdf = mdf_iter.MdfFile(f)
        out["first_measurement_ns"] = int(mdf.get_first_measurement())
        df = mdf.get_data_frame()
        out["frames"] = len(df)
        if len(df):
            out["first_ns"] = int(df.index[0].value)
            out["last_ns"] = int(df.index[-1].value)
    if open(path, "rb").read(12) != MAGIC:
        import asammdf

        mdf = asammdf.MDF(path)
        count = 0
        for index, group in enumerate(mdf.groups):
            names = [c.name for c in group.channels]
            if "CAN_DataFrame.ID" in names:
                count += len(mdf.get("CAN_DataFrame.ID", group=index).samples)
        out["asammdf_frames"] = count
    return out


if sys.argv[1] == "decode":
    source, target = sys.argv[2], sys.argv[3]
    password = sys.argv[4] if len(sys.argv) > 4 else ""
    try:
        result = decode(open(source, "rb").read(), password)
    except Exception as e:  # noqa: BLE001 - the reason is the answer
        print(f"cannot decode {source}: {type(e).__name__} {e}", file=sys.stderr)
        sys.exit(1)
    open(target, "wb").write(result)
elif sys.argv[1] == "frames":
    for path in sys.argv[2:]:
        print(json.dumps(frames(path)), flush=True)
else:
    raise SystemExit(__doc__)
