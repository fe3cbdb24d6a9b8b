using System.Buffers;
using Netmem.Dmabuf;
using Netmem.Sockets;
using Netmem.Stack.Tcp;
using static Netmem.Native.LinuxAbi;

namespace Netmem.Native;

/// <summary>
/// Device memory TCP behind the C ABI: dma-buf descriptors (a memfd-backed udmabuf the caller can mmap, or
/// device memory the CPU cannot read), bind-rx of one to the instance's RX queue through
/// <see cref="NetDevmemBinding.BindRx"/> (the netdev family's bind-rx, which a Linux program sends over
/// netlink), <c>recvmsg(MSG_SOCK_DEVMEM)</c> through the same read actor and per-socket token table as
/// <see cref="TcpSocket.ReceiveDevmemAsync"/>, and <c>setsockopt(SO_DEVMEM_DONTNEED)</c>.
/// </summary>
internal sealed partial class NativeStack
{
    private readonly Dictionary<uint, NetDevmemBinding> _bindings = new();

    /// <summary>
    /// A udmabuf (memfd pages behind a dma-buf): the descriptor is the memfd itself, so the caller maps it
    /// with <c>mmap(MAP_SHARED)</c> and reads the payload there, as it would map a Linux dma-buf fd.
    /// </summary>
    public int UdmabufCreate(long size)
    {
        if (size <= 0) return -(int)Errno.EINVAL;
        MemfdDmaBuf buf;
        try { buf = new MemfdDmaBuf(size); }
        catch (NetmemErrnoException e) { return -(int)e.Errno; }
        catch (ArgumentException) { return -(int)Errno.EINVAL; }
        _files[buf.MemfdFd] = new DmabufFile(buf);
        return buf.MemfdFd;
    }

    /// <summary>Device memory behind a dma-buf (an accelerator's HBM): the CPU cannot map or read it; <see cref="DmabufRead"/> verifies it.</summary>
    public int DevmemCreate(long size)
    {
        if (size <= 0) return -(int)Errno.EINVAL;
        DeviceMemoryDmaBuf buf;
        try { buf = new DeviceMemoryDmaBuf(size); }
        catch (NetmemErrnoException e) { return -(int)e.Errno; }
        catch (ArgumentException) { return -(int)Errno.EINVAL; }
        int fd = Install(new DmabufFile(buf));
        if (fd < 0) buf.Dispose();
        return fd;
    }

    private int GetDmabuf(int fd, out DmaBuf buf)
    {
        buf = null!;
        var f = Get(fd);
        if (f is null) return -(int)Errno.EBADF;   // dma_buf_get on a closed descriptor
        if (f is not DmabufFile d) return -(int)Errno.EINVAL; // a file that is not a dma-buf
        buf = d.Buf;
        return 0;
    }

    /// <summary>
    /// Verification read of a dma-buf: host memory through CPU access (DMA_BUF_IOCTL_SYNC), device memory
    /// through the exporter's verification hook (what a test or ncdevmem checks payload with).
    /// </summary>
    public int DmabufRead(int fd, long offset, Span<byte> into)
    {
        int r = GetDmabuf(fd, out var buf);
        if (r < 0) return r;
        if (offset < 0 || offset > buf.Size || into.Length > buf.Size - offset) return -(int)Errno.EINVAL;
        if (buf is DeviceMemoryDmaBuf dev) dev.ReadForVerification(offset, into);
        else
        {
            buf.BeginCpuAccess(offset, into.Length, Netmem.Memory.DmaDirection.FromDevice).CopyTo(into);
            buf.EndCpuAccess(Netmem.Memory.DmaDirection.FromDevice);
        }
        return into.Length;
    }

    /// <summary>
    /// bind-rx: binds dma-buf <paramref name="dmabufFd"/> to the RX queues (all of type RX) of device
    /// <paramref name="ifindex"/>; returns the binding's dmabuf id (positive) or a negative errno: ENODEV for
    /// another ifindex, EBADF/EINVAL for a descriptor that is not a dma-buf, EINVAL for a TX queue or none,
    /// and BindRx's errors (ERANGE, EINVAL with tcp-data-split off, EEXIST for a bound queue, ...).
    /// </summary>
    public long BindRx(int ifindex, int dmabufFd, ReadOnlySpan<(uint Type, uint Id)> queues)
    {
        var dev = Host.Netdev;
        if (ifindex != dev.Ifindex) return -(int)Errno.ENODEV;
        int r = GetDmabuf(dmabufFd, out var buf);
        if (r < 0) return r;
        if (queues.IsEmpty) return -(int)Errno.EINVAL;
        var ids = new int[queues.Length]; // control path
        for (int i = 0; i < queues.Length; i++)
        {
            if (queues[i].Type != NETDEV_QUEUE_TYPE_RX) return -(int)Errno.EINVAL; // bind-rx takes RX queues only
            ids[i] = queues[i].Id > int.MaxValue ? int.MaxValue : (int)queues[i].Id;
        }
        NetDevmemBinding binding;
        try { binding = NetDevmemBinding.BindRx(dev, buf, ids); }
        catch (NetmemErrnoException e) { return -(int)e.Errno; }
        _bindings[binding.Id] = binding;
        return binding.Id;
    }

    /// <summary>
    /// bind-tx (<c>NETDEV_CMD_BIND_TX</c>): maps dma-buf <paramref name="dmabufFd"/> for device <paramref name="ifindex"/> to
    /// read (DMA_TO_DEVICE); returns the dmabuf id sendmsg names in SCM_DEVMEM_DMABUF, or a negative errno: ENODEV
    /// for another ifindex, EBADF/EINVAL for a descriptor that is not a dma-buf, then BindTx's errors.
    /// </summary>
    public long BindTx(int ifindex, int dmabufFd)
    {
        var dev = Host.Netdev;
        if (ifindex != dev.Ifindex) return -(int)Errno.ENODEV;
        int r = GetDmabuf(dmabufFd, out var buf);
        if (r < 0) return r;
        NetDevmemBinding binding;
        try { binding = NetDevmemBinding.BindTx(dev, buf); }
        catch (NetmemErrnoException e) { return -(int)e.Errno; }
        _bindings[binding.Id] = binding;
        return binding.Id;
    }

    /// <summary>
    /// Unbinds (what closing the netlink socket that bound it does). RX: the queue restarts on pages; memory goes
    /// when the last frag comes back. TX: sends naming the id fail with EINVAL from now on; the memory goes when the
    /// last frag that references it has been ACKed. ENOENT for an unknown or unbound id, or one of the other direction.
    /// </summary>
    public int Unbind(uint dmabufId, bool tx = false)
    {
        if (!_bindings.TryGetValue(dmabufId, out var b) || b.IsUnbound || b.IsTx != tx) return -(int)Errno.ENOENT;
        b.Dispose();
        Host.RunPending();
        return 0;
    }

    /// <summary>
    /// A binding's figures (for tests and tools), also after it was unbound: size, free chunks, the bound
    /// queue's pool inflight and how much of it skbs and tokens hold, and whether its memory was freed.
    /// </summary>
    public int BindingInfo(uint dmabufId, out NetmemBindingInfo info)
    {
        info = default;
        if (!_bindings.TryGetValue(dmabufId, out var b)) return -(int)Errno.ENOENT;
        var q = b.BoundRxQueues;
        var pool = q.Count > 0 ? q[0].PagePool : null;
        info = new NetmemBindingInfo
        {
            DmabufId = b.Id,
            Ifindex = (uint)b.Device.Ifindex,
            NetIovs = (uint)b.NetIovCount,
            NetIovsFree = (uint)b.Chunks.Available,
            PoolInflight = pool?.Inflight ?? 0,
            // RX: what skbs and tokens hold of the pool; TX: the frags (send queue, in flight) referencing its net_iovs.
            UserHeld = b.IsTx ? b.NetIovRefs : pool is null ? 0 : pool.Inflight - pool.CacheCount - pool.RingCount,
            Unbound = b.IsUnbound ? 1u : 0u,
            Freed = b.IsFreed ? 1u : 0u,
        };
        return 0;
    }

    /// <summary>
    /// <c>recvmsg(MSG_SOCK_DEVMEM)</c>: reads up to <paramref name="linear"/>.Length bytes (the iov's length; dmabuf
    /// bytes count), copies bytes in host memory to <paramref name="linear"/> and describes the read in
    /// <paramref name="records"/>. Returns the bytes read (0 at end of stream) or a negative errno
    /// (ETOOSMALL when not one record fits, EAGAIN, ...). Blocks like <see cref="Read"/>.
    /// </summary>
    public int ReadDevmem(int fd, Span<byte> linear, Span<DevmemCmsg> records, int flags, out int linearBytes, out int recordCount)
    {
        linearBytes = recordCount = 0;
        int r = GetSocket(fd, out var s);
        if (r < 0) return r;
        var c = s.Connection;
        if (c is null) return -(int)Errno.ENOTCONN;
        if ((flags & MSG_PEEK) != 0) return -(int)Errno.EOPNOTSUPP;
        if ((flags & MSG_OOB) != 0) return -(int)Errno.EINVAL;
        bool nonBlocking = s.NonBlocking || (flags & MSG_DONTWAIT) != 0;
        if (linear.Length == 0) return 0;
        while (true)
        {
            var actor = new TcpDevmemActor(linear, records, s.Tokens);
            int n;
            try
            {
                n = c.Read(ref actor, linear.Length);
            }
            finally
            {
                actor.EndTokens();
            }
            if (n > 0)
            {
                linearBytes = actor.LinearBytes;
                recordCount = actor.Records;
                if (actor.Frags > 0) TcpStats.Add(ref Tcp.Stats.DevmemFrags, actor.Frags);
                Host.RunPending();
                WakeWaiters();
                return n;
            }
            if (n == 0 || s.ShutRead) return 0;
            if (n != -(int)Errno.EAGAIN)
            {
                if (n == -(int)Errno.ENOTCONN && c.State == TcpState.Closed) return 0;
                if (c.Error != Errno.None) s.ErrorReported = c.Error;
                return n;
            }
            if (nonBlocking) return -(int)Errno.EAGAIN;
            BlockOnce();
        }
    }

    /// <summary>setsockopt(SOL_SOCKET, SO_DEVMEM_DONTNEED): the kernel's limits (optlen a multiple of 8, at most 128 ranges: EINVAL), returns the frags freed.</summary>
    private static int DevmemDontNeed(SocketFile s, ReadOnlySpan<byte> val)
    {
        const int size = 8; // sizeof(struct dmabuf_token)
        if (val.Length < sizeof(int) || val.Length % size != 0 || val.Length > size * Devmem.MaxDontneedTokens) return -(int)Errno.EINVAL;
        Span<DmabufToken> tokens = stackalloc DmabufToken[val.Length / size];
        for (int i = 0; i < tokens.Length; i++)
            tokens[i] = new DmabufToken(BitConverter.ToUInt32(val[(i * size)..]), BitConverter.ToUInt32(val[(i * size + 4)..]));
        return s.Tokens.Release(tokens);
    }

    public static DevmemCmsg[] RentRecords(int n) => ArrayPool<DevmemCmsg>.Shared.Rent(Math.Max(n, 1));
    public static void ReturnRecords(DevmemCmsg[] a) => ArrayPool<DevmemCmsg>.Shared.Return(a);

    /// <summary>Releases every token, unbinds every binding and drops every dma-buf (at <see cref="Dispose"/>).</summary>
    private void DisposeDevmem()
    {
        foreach (var f in _files.Values) if (f is SocketFile s) s.Tokens.Close();
        foreach (var b in _bindings.Values) if (!b.IsUnbound) b.Dispose();
        _bindings.Clear();
        foreach (var f in _files.Values) if (f is DmabufFile d) d.Buf.Dispose();
    }
}

/// <summary>A dma-buf descriptor of the C ABI (udmabuf or device memory); closing it drops the creator's reference.</summary>
internal sealed class DmabufFile(DmaBuf buf) : NativeFile
{
    public DmaBuf Buf { get; } = buf;
}

/// <summary><c>struct netmem_binding_info</c> (40 bytes), filled by <c>netmem_binding_info</c>.</summary>
[System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential)]
internal struct NetmemBindingInfo
{
    public uint DmabufId;
    public uint Ifindex;
    public uint NetIovs;
    public uint NetIovsFree;
    public long PoolInflight;
    public long UserHeld;
    public uint Unbound;
    public uint Freed;
}
