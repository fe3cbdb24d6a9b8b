using Netmem.Dmabuf;
using Netmem.Stack;
using Netmem.Stack.Tcp;
using static Netmem.Native.LinuxAbi;

namespace Netmem.Native;

/// <summary>
/// MSG_ZEROCOPY behind the C ABI: SO_ZEROCOPY's flag decides whether a send with the flag goes through
/// <see cref="TcpConnection.SendZeroCopy"/> (the caller's memory, by native address, each iov element its
/// own frag) or is copied as if the flag were absent (the kernel ignores it without SOCK_ZEROCOPY); with
/// an SCM_DEVMEM_DMABUF cmsg it goes through <see cref="TcpConnection.SendDevmem"/> (offsets into a TX
/// binding's dma-buf). Completions are read back with recvmsg(MSG_ERRQUEUE) (<see cref="ReadErrorQueue"/>).
/// </summary>
internal sealed partial class NativeStack
{
    /// <summary>
    /// Whether a send with <paramref name="flags"/> of <paramref name="length"/> bytes on <paramref name="fd"/> is a
    /// zero-copy one (tcp_sendmsg_locked: MSG_ZEROCOPY, a non-empty payload, SOCK_ZEROCOPY set).
    /// </summary>
    public bool ZeroCopyApplies(int fd, int flags, long length) =>
        (flags & MSG_ZEROCOPY) != 0 && length > 0 && Get(fd) is SocketFile { Settings.ZeroCopy: true };

    /// <summary>
    /// recvmsg(MSG_ERRQUEUE) (ip_recv_error): takes the oldest record of the socket's error queue; EAGAIN when
    /// there is none (a socket that never connected has none). The record carries no payload, so the read is 0 bytes.
    /// </summary>
    public int ReadErrorQueue(int fd, out SockExtendedErr err)
    {
        err = default;
        int r = GetSocket(fd, out var s);
        if (r < 0) return r;
        if (s.ErrorQueue is not { } q || !q.TryDequeue(out err)) return -(int)Errno.EAGAIN;
        return 0;
    }
}

/// <summary>
/// What a zero-copy write sends: user memory by native address (MSG_ZEROCOPY) or ranges of a TX binding's
/// dma-buf (MSG_ZEROCOPY with SCM_DEVMEM_DMABUF). <see cref="SendOnce"/> queues what it can and consumes it,
/// so a write that has to wait for send-buffer space goes on with the rest.
/// </summary>
internal ref struct ZeroCopyPayload
{
    private Span<UserIov> _user;
    private Span<DmabufIov> _dmabuf;
    private readonly uint _dmabufId;
    private readonly bool _devmem;

    public static ZeroCopyPayload User(Span<UserIov> iov) => new(iov, default, 0, false);
    public static ZeroCopyPayload Devmem(uint dmabufId, Span<DmabufIov> iov) => new(default, iov, dmabufId, true);

    private ZeroCopyPayload(Span<UserIov> user, Span<DmabufIov> dmabuf, uint dmabufId, bool devmem)
    {
        _user = user;
        _dmabuf = dmabuf;
        _dmabufId = dmabufId;
        _devmem = devmem;
    }

    /// <summary>Whether there is a zero-copy payload (default: none, the write copies its data).</summary>
    public readonly bool IsSet => _devmem || !_user.IsEmpty;

    /// <summary>The bytes still to send (at most int.MaxValue).</summary>
    public readonly int Length
    {
        get
        {
            long sum = 0;
            foreach (var v in _user) sum += v.Length;
            foreach (var v in _dmabuf) sum += v.Length;
            return (int)Math.Min(sum, int.MaxValue);
        }
    }

    /// <summary>
    /// What a Fast Open SYN may carry of this payload (tcp_send_syn_data copies it): the first user memory element;
    /// nothing from a dma-buf, which the CPU may not read.
    /// </summary>
    public readonly ReadOnlySpan<byte> SynData => _devmem || _user.IsEmpty ? default : Netmem.Memory.UserMemory.AsSpan(_user[0].Address, _user[0].Length);

    /// <summary>Drops the first <paramref name="bytes"/> (what a Fast Open SYN took).</summary>
    public void Consume(int bytes)
    {
        while (bytes > 0 && !_user.IsEmpty)
        {
            if (_user[0].Length <= bytes) { bytes -= _user[0].Length; _user = _user[1..]; }
            else { _user[0] = new UserIov(_user[0].Address + bytes, _user[0].Length - bytes); bytes = 0; }
        }
    }

    /// <summary>One send of what is left; returns the bytes queued (and consumes them) or a negative errno.</summary>
    public int SendOnce(TcpConnection c, bool eor, bool more)
    {
        if (_devmem)
        {
            int d = c.SendDevmem(_dmabufId, _dmabuf, eor, more);
            for (int left = d; left > 0;)
            {
                if (_dmabuf[0].Length <= left) { left -= _dmabuf[0].Length; _dmabuf = _dmabuf[1..]; }
                else { _dmabuf[0] = new DmabufIov(_dmabuf[0].Offset + (ulong)left, _dmabuf[0].Length - left); left = 0; }
            }
            return d;
        }
        int n = c.SendZeroCopy(_user, pin: null, endOfRecord: eor, more: more);
        for (int left = n; left > 0;)
        {
            if (_user[0].Length <= left) { left -= _user[0].Length; _user = _user[1..]; }
            else { _user[0] = new UserIov(_user[0].Address + left, _user[0].Length - left); left = 0; }
        }
        return n;
    }
}
