// Linux constants the drivers on kernel interfaces (afpacket, afxdp) react to, in one place.

// SIOCGIFFLAGS bits (include/uapi/linux/if.h).
export const IFF_UP = 0x1;
export const IFF_RUNNING = 0x40;

// errno values (include/uapi/asm-generic/errno-base.h, errno.h).
export const EPERM = 1;
export const ENOENT = 2;
export const EAGAIN = 11;
export const ENOMEM = 12;
export const EACCES = 13;
export const EBUSY = 16;
export const EEXIST = 17;
export const ENODEV = 19;
export const EINVAL = 22;
export const ENOPROTOOPT = 92;
export const EOPNOTSUPP = 95;
export const EAFNOSUPPORT = 97;
export const ENOBUFS = 105;
