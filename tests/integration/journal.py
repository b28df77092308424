"""An independent reader of taskfarm's crash journal (OUT.h5.journal), written from the
format described in src/journal.h and src/wire.h, so tests can see what was recorded as
finished at the moment of a kill without going through taskfarm itself."""
import struct
import time
import zlib

MAGIC = b"TFJRNL01"
KIND_HEADER, KIND_RESULTS = 0x100, 0x101


class _Reader:
    def __init__(self, data):
        self.d, self.p = data, 0

    def take(self, fmt):
        v = struct.unpack_from("<" + fmt, self.d, self.p)
        self.p += struct.calcsize("<" + fmt)
        return v

    def string(self):
        (n,) = self.take("I")
        s = self.d[self.p:self.p + n].decode("utf-8")
        self.p += n + 1
        return s


def read_journal(path):
    """{task id: result dict} of every whole record; a torn last record is ignored, as
    taskfarm ignores it. The last record of a task wins."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != MAGIC:
        raise ValueError(f"{path} is not a taskfarm journal")
    pos, results, first = 8, {}, True
    while pos + 8 <= len(data):
        length, crc = struct.unpack_from("<II", data, pos)
        payload = data[pos + 8:pos + 8 + length]
        if len(payload) != length or zlib.crc32(payload) != crc:
            break  # torn by the kill
        pos += 8 + length
        r = _Reader(payload)
        _magic, kind_version, count, _pad = r.take("IIII")
        kind = kind_version >> 16
        if first:
            if kind != KIND_HEADER:
                raise ValueError("journal does not start with its header")
            first = False
            continue
        for _ in range(count):
            host = r.string()
            (tid, line, offset, rss, cpu_u, cpu_s, flags, ec, sig, rank, slot, att, start,
             end) = r.take("QQQQddIIIIIIdd")
            out, err = r.string(), r.string()
            results[tid] = {"status": flags & 0xFF, "exit_code": ec, "rank": rank,
                            "slot": slot, "attempts": att, "host": host, "stdout": out,
                            "stderr": err, "line": line}
    return results


def wait_for_finished(result_path, n, timeout=20, proc=None):
    """Wait until the journal of result_path records n finished tasks (a run is under way);
    False on timeout or when proc (a Popen) ended first."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout and (proc is None or proc.poll() is None):
        try:
            if len(read_journal(result_path + ".journal")) >= n:
                return True
        except (OSError, ValueError, struct.error):
            pass  # not created yet, or caught mid-header
        time.sleep(0.05)
    return False


# ---- taking journals apart and writing crafted ones (tests of damaged journals) ----------

def split_journal(path):
    """(the magic and header record as bytes, [(offset, payload)] of the whole records after
    it), reading frames as taskfarm does; stops at the first record that fails its check."""
    with open(path, "rb") as f:
        data = f.read()
    if data[:8] != MAGIC:
        raise ValueError(f"{path} is not a taskfarm journal")
    (hlen,) = struct.unpack_from("<I", data, 8)
    pos = 8 + 8 + hlen
    head, records = data[:pos], []
    while pos + 8 <= len(data):
        length, crc = struct.unpack_from("<II", data, pos)
        payload = data[pos + 8:pos + 8 + length]
        if len(payload) != length or zlib.crc32(payload) != crc:
            break
        records.append((pos, payload))
        pos += 8 + length
    return head, records


def _wire_str(s):
    b = s if isinstance(s, bytes) else s.encode()
    return struct.pack("<I", len(b)) + b + b"\0"


def results_payload(results):
    """The payload of one RESULTS record holding results, dicts as read_journal returns them
    (strings may be bytes, to plant what taskfarm never writes); missing keys get defaults."""
    body = b""
    for r in results:
        flags = r.get("status", 1) & 0xFF
        body += _wire_str(r.get("host", "node"))
        body += struct.pack("<QQQQddIIIIIIdd", r["id"] & (2**64 - 1), r.get("line", r["id"] + 1),
                            r.get("offset", 0), 0, 0.0, 0.0, flags,
                            r.get("exit_code", 0) & 0xFFFFFFFF, 0,
                            r.get("rank", 0) & 0xFFFFFFFF, r.get("slot", 0) & 0xFFFFFFFF,
                            r.get("attempts", 1) & 0xFFFFFFFF, r.get("start", 1.0e9),
                            r.get("end", 1.0e9 + 1))
        body += _wire_str(r.get("stdout", "")) + _wire_str(r.get("stderr", ""))
    header = struct.pack("<IIII", 0x4D524654, KIND_RESULTS << 16 | 3, len(results), 0)
    return header + body


def frame(payload):
    """A whole journal record: length, CRC-32, payload."""
    return struct.pack("<II", len(payload), zlib.crc32(payload)) + payload
