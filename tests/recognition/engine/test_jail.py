"""The Landlock and seccomp wrapper (`recognition/engine/jail.py`): what a command run in it can and
cannot do, and that it refuses to run a command it cannot confine."""

import errno
import os
import subprocess
import sys
import textwrap

import pytest

from recognition.engine import audio, jail

CLEAN_ENV = ["env", "-i", *(f"{key}={value}" for key, value in audio.SANDBOX_ENV.items())]
JAIL = [*CLEAN_ENV, sys.executable, "-I", "-S", jail.__file__]
# Debian's own Python, under /usr: a command the jail lets run, which tries what a decoder's
# exploit would. Each attempt prints its errno (0 when it worked).
PYTHON = "/usr/bin/python3"
_ATTEMPTS = textwrap.dedent("""
    import ctypes, os, socket, sys
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    numbers = dict(pair.split("=") for pair in sys.argv[1].split(","))

    def attempt(name, call):
        try:
            result = call()
        except OSError as error:
            print(name, error.errno)
            return
        if isinstance(result, int) and result < 0:
            print(name, ctypes.get_errno())
        else:
            print(name, 0)

    def raw_clone(flags):
        child = libc.syscall(int(numbers["clone"]), ctypes.c_ulong(flags | 17), None, None, None, None)
        if child == 0:
            os._exit(0)
        if child > 0:
            os.waitpid(child, 0)
        return child

    for family in ("AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK"):
        attempt(family, lambda: socket.socket(getattr(socket, family), socket.SOCK_DGRAM))
    attempt("socketpair", socket.socketpair)
    attempt("unshare", lambda: libc.unshare(0x10000000))
    attempt("clone_newuser", lambda: raw_clone(0x10000000))
    attempt("clone", lambda: raw_clone(0))
    attempt("ptrace", lambda: libc.ptrace(16, os.getppid(), None, None))
    attempt("io_uring_setup", lambda: libc.syscall(int(numbers["io_uring_setup"]), 1, ctypes.create_string_buffer(120)))
    attempt("kill_parent", lambda: os.kill(os.getppid(), 0))
    attempt("read_passwd", lambda: open("/etc/passwd").read())
    attempt("read_usr", lambda: open("/usr/bin/env", "rb").read(4))
    attempt("write_tmp", lambda: open(sys.argv[2], "w").write("x"))
    attempt("write_devnull", lambda: open("/dev/null", "w").write("x"))
    attempt("chmod", lambda: os.chmod(sys.argv[3], 0o666))  # what Landlock alone lets through
    attempt("utime", lambda: os.utime(sys.argv[3], (0, 0)))
""")


def _numbers():
    column = 0 if os.uname().machine == "x86_64" else 1
    return ",".join(f"{name}={jail._SYSCALLS[name][column]}" for name in ("clone", "io_uring_setup"))


@pytest.mark.skipif(not os.path.exists(PYTHON), reason="needs Debian's python3 under /usr")
def test_a_jailed_command_gets_no_socket_namespace_file_or_other_process(tmp_path):
    kept = tmp_path / "kept.key"
    kept.write_bytes(b"secret")
    kept.chmod(0o600)
    before = kept.stat()
    done = subprocess.run(
        [*JAIL, "--", PYTHON, "-I", "-c", _ATTEMPTS, _numbers(), str(tmp_path / "written"), str(kept)],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = {name: int(code) for name, code in (line.split() for line in done.stdout.splitlines())}
    assert {family: result[family] for family in ("AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK")} == dict.fromkeys(
        ("AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK"), errno.EACCES
    )
    assert result["socketpair"] == errno.EACCES
    assert result["unshare"] == result["clone_newuser"] == result["ptrace"] == errno.EPERM
    assert result["io_uring_setup"] == errno.EPERM
    assert result["clone"] == 0  # a plain fork still works (and threads: ffmpeg's decodes)
    assert result["read_passwd"] == result["write_tmp"] == errno.EACCES
    assert result["read_usr"] == result["write_devnull"] == 0
    if jail.landlock_abi() >= 6:
        assert result["kill_parent"] == errno.EPERM  # signals are scoped to the sandbox
    assert not (tmp_path / "written").exists()
    assert result["chmod"] == result["utime"] == errno.EPERM
    assert (kept.stat().st_mode, kept.stat().st_mtime_ns) == (before.st_mode, before.st_mtime_ns)


def test_the_jail_runs_the_command_with_its_arguments(tmp_path):
    upload = tmp_path / "upload.bin"
    upload.write_bytes(b"the bytes that were sent")
    done = subprocess.run([*JAIL, "--read", str(upload), "--", "cat", str(upload)], capture_output=True, check=False)
    assert (done.returncode, done.stdout) == (0, upload.read_bytes())


@pytest.mark.parametrize(
    "arguments",
    [["--read", "/nonexistent/upload.bin", "--"], ["--read"], ["sh"], []],
    ids=["missing input", "no input named", "no separator", "nothing"],
)
def test_the_jail_refuses_in_one_line_and_runs_nothing(arguments):
    done = subprocess.run([*JAIL, *arguments, "sh", "-c", "echo ran"], capture_output=True, text=True, check=False)
    assert done.returncode == 2 and done.stdout == ""
    assert done.stderr.startswith("jail: ") and done.stderr.count("\n") == 1, done.stderr


_WITHOUT_LANDLOCK = textwrap.dedent("""
    import subprocess, sys
    from recognition.engine import audio
    jailed = subprocess.run([*audio._isolation("landlock", None), "sh", "-c", "echo ran"], capture_output=True,
                            text=True)
    print(jailed.returncode, jailed.stdout.strip() or "-", jailed.stderr.strip())
    try:
        print(audio.sandbox_mode())
    except RuntimeError:
        print("refused")
""")


def test_without_landlock_the_jail_refuses_and_insisting_on_it_stops_decodes(under_seccomp):
    """A kernel without Landlock (its first syscall answers ENOSYS, as Linux < 5.13 does)."""
    environ = {key: value for key, value in os.environ.items() if key != "EARSHOT_DECODE_SANDBOX"}
    denied = {"landlock_create_ruleset": errno.ENOSYS}
    done = under_seccomp(denied, _WITHOUT_LANDLOCK, env={**environ, "EARSHOT_DECODE_SANDBOX": "landlock"})
    jailed, mode = done.stdout.splitlines()
    assert jailed.startswith("2 - jail: refusing to run sh: Landlock: Function not implemented"), done.stderr
    assert mode == "refused"
    done = under_seccomp(denied, _WITHOUT_LANDLOCK, env=environ)
    assert done.stdout.splitlines()[1] in {"bwrap", "unshare", "env"}  # the strongest other mode that works


def test_the_filter_has_a_table_for_this_machine_and_refuses_others():
    program = jail.seccomp_filter(jail.DENIED_SYSCALLS, clone_flags_denied=jail.CLONE_NAMESPACES)
    assert len(program) % 8 == 0 and len(program) // 8 < 4096  # whole instructions, within BPF's limit
    with pytest.raises(ValueError, match="no seccomp table for riscv64"):
        jail.seccomp_filter(jail.DENIED_SYSCALLS, machine="riscv64")
