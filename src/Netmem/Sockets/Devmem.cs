namespace Netmem.Sockets;

/// <summary>The devmem ABI values (uapi asm-generic/socket.h, linux/socket.h) and the kernel's per-call limits.</summary>
public static class Devmem
{
    /// <summary>MSG_SOCK_DEVMEM: recvmsg returns device memory as control records.</summary>
    public const int MsgSockDevmem = 0x2000000;
    /// <summary>SO_DEVMEM_LINEAR: cmsg type of bytes copied to the user's buffer.</summary>
    public const int SoDevmemLinear = 78;
    /// <summary>SO_DEVMEM_DMABUF: cmsg type of a frag in device memory.</summary>
    public const int SoDevmemDmabuf = 79;
    /// <summary>SO_DEVMEM_DONTNEED: setsockopt that releases tokens.</summary>
    public const int SoDevmemDontneed = 80;
    /// <summary>MAX_DONTNEED_TOKENS: most dmabuf_token entries one SO_DEVMEM_DONTNEED takes (more: EINVAL).</summary>
    public const int MaxDontneedTokens = 128;
    /// <summary>MAX_DONTNEED_FRAGS: most tokens one SO_DEVMEM_DONTNEED looks at; it stops there and returns what it freed.</summary>
    public const int MaxDontneedFrags = 1024;
}
