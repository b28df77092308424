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
