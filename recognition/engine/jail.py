"""Run one command under Landlock and seccomp: the decode sandbox for when user namespaces are refused.

    python -I -S recognition/engine/jail.py [--read FILE] -- COMMAND [ARG...]

Docker's and containerd's default seccomp profiles refuse `unshare(CLONE_NEWUSER)`, so bubblewrap
cannot start in a default container; Landlock (Linux 5.13+) needs no namespace and no privilege.
Before it runs COMMAND this wrapper sets no_new_privs, restricts itself with a Landlock ruleset
that handles every filesystem access right the kernel knows and allows only reading and executing
/usr (the loader's two files of /etc, /dev/null, and FILE to read), refuses every TCP bind and
connect (Landlock ABI 4+) and scopes abstract unix sockets and signals to itself (ABI 6+), then
installs a seccomp filter that refuses sockets, ptrace, other processes' memory, io_uring,
namespaces, mounts, keyrings, BPF, kernel modules and changes to a file's mode, owner, times or
extended attributes (which Landlock does not cover). What it cannot set up, it refuses: it exits
2 with one line on stderr and never runs COMMAND with less than all of it. Landlock and seccomp
bind the calling thread and whatever it execs: the wrapper has no other thread.

Run as a script with `-I -S` (no site, no environment, no current folder on the path): it imports
only `os`, `sys` and `ctypes`, so it costs a Python start and little more
(docs/decisions.md, The decode sandbox). Importable too, for its tests.
"""

from __future__ import annotations

import ctypes
import errno
import os
import stat
import sys

__all__ = [
    "CLONE_NAMESPACES",
    "DENIED_SYSCALLS",
    "install_seccomp",
    "landlock_abi",
    "main",
    "no_new_privs",
    "restrict_filesystem",
    "seccomp_filter",
]

# Landlock (include/uapi/linux/landlock.h). The filesystem rights each ABI version added.
_FS_RIGHTS_BY_ABI = {1: (1 << 13) - 1, 2: 1 << 13, 3: 1 << 14, 5: 1 << 15}  # ..MAKE_SYM, REFER, TRUNCATE, IOCTL_DEV
_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1 << 0, 1 << 1, 1 << 2, 1 << 3
_NET_BIND_TCP, _NET_CONNECT_TCP = 1 << 0, 1 << 1
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1 << 0, 1 << 1
_RULE_PATH_BENEATH = 1
_SYS_CREATE_RULESET, _SYS_ADD_RULE, _SYS_RESTRICT_SELF = 444, 445, 446  # the same on every architecture

# What the command may see: the system's programs and libraries (read and execute), the dynamic
# loader's cache and the alternatives it may follow, and /dev/null. Debian's /lib, /lib64 and
# /bin are links into /usr; where they are real folders they are allowed too.
_SYSTEM = ("/usr", "/lib", "/lib64", "/bin")
_LOADER = ("/etc/ld.so.cache", "/etc/alternatives")

# prctl and seccomp (include/uapi/linux/prctl.h, seccomp.h, filter.h, audit.h).
_PR_SET_SECCOMP, _PR_SET_NO_NEW_PRIVS, _SECCOMP_MODE_FILTER = 22, 38, 2
_RET_KILL_PROCESS, _RET_ERRNO, _RET_ALLOW = 0x80000000, 0x00050000, 0x7FFF0000
_LD_W_ABS, _JEQ_K, _JGE_K, _JSET_K, _RET_K = 0x20, 0x15, 0x35, 0x45, 0x06
_OFFSET_NR, _OFFSET_ARCH, _OFFSET_ARG0 = 0, 4, 16  # struct seccomp_data; arg0's low word (little-endian)
_X32_SYSCALL_BIT = 0x40000000
_ARCHES = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}  # AUDIT_ARCH_*, little-endian only

# Syscall numbers: x86_64, then aarch64 (the generic table, which lacks the old path-taking calls).
_SYSCALLS: dict[str, tuple[int | None, int | None]] = {
    "socket": (41, 198), "socketpair": (53, 199), "bind": (49, 200), "listen": (50, 201),
    "accept": (43, 202), "accept4": (288, 242), "connect": (42, 203),
    "ptrace": (101, 117), "process_vm_readv": (310, 270), "process_vm_writev": (311, 271),
    "pidfd_getfd": (438, 438), "kcmp": (312, 272), "process_madvise": (440, 440),
    "io_uring_setup": (425, 425), "io_uring_enter": (426, 426), "io_uring_register": (427, 427),
    "unshare": (272, 97), "setns": (308, 268), "clone": (56, 220), "clone3": (435, 435),
    "mount": (165, 40), "umount2": (166, 39), "pivot_root": (155, 41), "chroot": (161, 51),
    "open_tree": (428, 428), "move_mount": (429, 429), "fsopen": (430, 430), "fsconfig": (431, 431),
    "fsmount": (432, 432), "fspick": (433, 433), "mount_setattr": (442, 442),
    "name_to_handle_at": (303, 264), "open_by_handle_at": (304, 265),
    "bpf": (321, 280), "perf_event_open": (298, 241), "userfaultfd": (323, 282),
    "add_key": (248, 217), "request_key": (249, 218), "keyctl": (250, 219),
    "init_module": (175, 105), "finit_module": (313, 273), "delete_module": (176, 106),
    "kexec_load": (246, 104), "kexec_file_load": (320, 294),
    "chmod": (90, None), "fchmod": (91, 52), "fchmodat": (268, 53), "fchmodat2": (452, 452),
    "chown": (92, None), "fchown": (93, 55), "lchown": (94, None), "fchownat": (260, 54),
    "utime": (132, None), "utimes": (235, None), "futimesat": (261, None), "utimensat": (280, 88),
    "setxattr": (188, 5), "lsetxattr": (189, 6), "fsetxattr": (190, 7), "setxattrat": (463, 463),
    "removexattr": (197, 14), "lremovexattr": (198, 15), "fremovexattr": (199, 16), "removexattrat": (466, 466),
    "landlock_create_ruleset": (444, 444),
}  # fmt: skip

# The command's refusals, by errno. No socket of any family (so no TCP, UDP, unix or netlink),
# no look into another process, no io_uring (whose operations seccomp cannot see), no namespace
# (`clone3` answers ENOSYS, as in Docker's profile, so that glibc falls back to `clone`, whose flags
# the filter can read), no mount, handle, keyring, BPF, perf or module call, and none of the
# changes to a file's metadata that Landlock does not cover (mode, owner, times, extended attributes).
DENIED_SYSCALLS = {
    **dict.fromkeys(["socket", "socketpair", "bind", "listen", "accept", "accept4", "connect"], errno.EACCES),
    **dict.fromkeys(
        ["ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp", "process_madvise",
         "io_uring_setup", "io_uring_enter", "io_uring_register", "unshare", "setns",
         "mount", "umount2", "pivot_root", "chroot", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount",
         "fspick", "mount_setattr", "name_to_handle_at", "open_by_handle_at", "bpf", "perf_event_open",
         "userfaultfd", "add_key", "request_key", "keyctl", "init_module", "finit_module", "delete_module",
         "kexec_load", "kexec_file_load", "chmod", "fchmod", "fchmodat", "fchmodat2", "chown", "fchown", "lchown",
         "fchownat", "utime", "utimes", "futimesat", "utimensat", "setxattr", "lsetxattr", "fsetxattr", "setxattrat",
         "removexattr", "lremovexattr", "fremovexattr", "removexattrat"],
        errno.EPERM,
    ),
    "clone3": errno.ENOSYS,
}  # fmt: skip
# CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME: `clone` with any is refused.
CLONE_NAMESPACES = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x80

_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long
_libc.prctl.restype = ctypes.c_int


class _RulesetAttr(ctypes.Structure):
    _fields_ = [("handled_access_fs", ctypes.c_uint64), ("handled_access_net", ctypes.c_uint64),
                ("scoped", ctypes.c_uint64)]  # fmt: skip


class _PathBeneathAttr(ctypes.Structure):
    _pack_ = 1
    _fields_ = [("allowed_access", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _check(result: int, what: str) -> int:
    if result < 0:
        code = ctypes.get_errno()
        raise OSError(code, f"{what}: {os.strerror(code)}")
    return result


def _syscall(number: int, *args: object) -> int:
    return _libc.syscall(ctypes.c_long(number), *args)


def landlock_abi() -> int:
    """Return the Landlock ABI version the running kernel offers; raise OSError when it has none."""
    return _check(_syscall(_SYS_CREATE_RULESET, None, ctypes.c_size_t(0), ctypes.c_uint32(1)), "Landlock")


def no_new_privs() -> None:
    """Set no_new_privs: no exec can gain privileges again (and Landlock and seccomp require it)."""
    _check(_libc.prctl(_PR_SET_NO_NEW_PRIVS, ctypes.c_ulong(1), ctypes.c_ulong(0), ctypes.c_ulong(0),
                       ctypes.c_ulong(0)), "PR_SET_NO_NEW_PRIVS")  # fmt: skip


def restrict_filesystem(read: str | None) -> int:
    """Restrict this thread, what it execs and its children with Landlock to the system's files and `read`.

    Every filesystem right of the kernel's ABI is handled: nothing may be written, created, removed,
    renamed, truncated or opened for an ioctl but /dev/null, nothing read outside /usr, the loader's
    files and `read`. TCP bind and connect are refused (ABI 4+); abstract unix sockets and signals
    cannot leave the sandbox (ABI 6+). Return the ABI version used.
    """
    abi = landlock_abi()
    handled_fs = sum(rights for version, rights in _FS_RIGHTS_BY_ABI.items() if version <= abi)
    attr = _RulesetAttr(handled_access_fs=handled_fs)
    size = 8
    if abi >= 4:
        attr.handled_access_net, size = _NET_BIND_TCP | _NET_CONNECT_TCP, 16
    if abi >= 6:
        attr.scoped, size = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL, 24
    ruleset = _check(
        _syscall(_SYS_CREATE_RULESET, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0)),
        "landlock_create_ruleset",
    )
    try:
        rules = [(path, _READ_FILE | _READ_DIR | _EXECUTE) for path in _SYSTEM if not os.path.islink(path)]
        rules += [(path, _READ_FILE | _READ_DIR) for path in _LOADER]
        rules.append(("/dev/null", _READ_FILE | _WRITE_FILE))
        for path, rights in rules:
            if os.path.exists(path):
                _allow(ruleset, path, rights)
        if read is not None:  # must exist: a file the command cannot read is an error here, not later
            _allow(ruleset, read, _READ_FILE | _READ_DIR)
        _check(_syscall(_SYS_RESTRICT_SELF, ctypes.c_int(ruleset), ctypes.c_uint32(0)), "landlock_restrict_self")
    finally:
        os.close(ruleset)
    return abi


def _allow(ruleset: int, path: str, rights: int) -> None:
    fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    try:
        if not stat.S_ISDIR(os.fstat(fd).st_mode):
            rights &= _EXECUTE | _WRITE_FILE | _READ_FILE  # a file takes no folder rights
        beneath = _PathBeneathAttr(allowed_access=rights, parent_fd=fd)
        _check(
            _syscall(_SYS_ADD_RULE, ctypes.c_int(ruleset), ctypes.c_int(_RULE_PATH_BENEATH), ctypes.byref(beneath),
                     ctypes.c_uint32(0)),
            f"landlock_add_rule {path}",
        )  # fmt: skip
    finally:
        os.close(fd)


def seccomp_filter(denied: dict[str, int], *, clone_flags_denied: int = 0, machine: str | None = None) -> bytes:
    """Return a seccomp BPF program that answers each syscall in `denied` with its errno.

    `clone` with any of `clone_flags_denied` answers EPERM; everything else is allowed. A syscall of
    another architecture (32-bit x86 on x86_64, or x32) kills the process, so no second syscall
    table can get around the filter. Raise ValueError on an architecture with no table here.
    """
    machine = machine or os.uname().machine
    if machine not in _ARCHES:
        raise ValueError(f"no seccomp table for {machine}")
    column = list(_ARCHES).index(machine)
    program = [(_LD_W_ABS, 0, 0, _OFFSET_ARCH), (_JEQ_K, 1, 0, _ARCHES[machine]), (_RET_K, 0, 0, _RET_KILL_PROCESS)]
    program.append((_LD_W_ABS, 0, 0, _OFFSET_NR))
    if machine == "x86_64":
        program += [(_JGE_K, 0, 1, _X32_SYSCALL_BIT), (_RET_K, 0, 0, _RET_KILL_PROCESS)]
    for name, code in denied.items():
        if (number := _SYSCALLS[name][column]) is not None:  # None: this architecture has no such call
            program += [(_JEQ_K, 0, 1, number), (_RET_K, 0, 0, _RET_ERRNO | code)]
    if clone_flags_denied:
        program += [
            (_JEQ_K, 0, 3, _SYSCALLS["clone"][column] or 0),
            (_LD_W_ABS, 0, 0, _OFFSET_ARG0),
            (_JSET_K, 0, 1, clone_flags_denied),
            (_RET_K, 0, 0, _RET_ERRNO | errno.EPERM),
        ]
    program.append((_RET_K, 0, 0, _RET_ALLOW))
    return b"".join(
        code.to_bytes(2, sys.byteorder) + bytes((jt, jf)) + k.to_bytes(4, sys.byteorder) for code, jt, jf, k in program
    )


def install_seccomp(program: bytes) -> None:
    """Install a seccomp BPF program (from `seccomp_filter`) on this thread; it passes to every exec."""
    instructions = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len=len(program) // 8, filter=ctypes.addressof(instructions))
    _check(_libc.prctl(_PR_SET_SECCOMP, ctypes.c_ulong(_SECCOMP_MODE_FILTER), ctypes.byref(fprog),
                       ctypes.c_ulong(0), ctypes.c_ulong(0)), "PR_SET_SECCOMP")  # fmt: skip


def main(argv: list[str]) -> int:
    """Set up the sandbox and exec the command after `--`; return 2 (and say why) when it cannot."""
    read = None
    if argv[:1] == ["--read"] and len(argv) >= 2:
        read, argv = argv[1], argv[2:]
    if argv[:1] != ["--"] or len(argv) < 2:
        print("jail: usage: jail.py [--read FILE] -- COMMAND [ARG...]", file=sys.stderr)
        return 2
    command = argv[1:]
    program = _which(command[0])
    if program is None:
        print(f"jail: {command[0]}: command not found", file=sys.stderr)
        return 127
    try:
        no_new_privs()
        restrict_filesystem(read)
        install_seccomp(seccomp_filter(DENIED_SYSCALLS, clone_flags_denied=CLONE_NAMESPACES))
    except OSError as error:
        reason = error.strerror if error.filename is None else f"{error.filename}: {error.strerror}"
        print(f"jail: refusing to run {command[0]}: {reason}", file=sys.stderr)
        return 2
    except ValueError as error:
        print(f"jail: refusing to run {command[0]}: {error}", file=sys.stderr)
        return 2
    try:
        os.execv(program, command)  # noqa: S606 - the command as given, exec'd without a shell
    except OSError as error:
        print(f"jail: cannot run {program}: {error.strerror}", file=sys.stderr)
    return 126


def _which(name: str) -> str | None:
    """The program's path, found before the sandbox closes: `os.execvp` would import `warnings` then."""
    if "/" in name:
        return name
    for folder in os.environ.get("PATH", os.defpath).split(os.pathsep):
        path = os.path.join(folder or ".", name)
        if os.access(path, os.X_OK) and not os.path.isdir(path):
            return path
    return None


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
