using System.Buffers.Binary;
using System.Collections.Concurrent;
using Netmem.Devices;
using Netmem.Skb;
using Netmem.Stack;
using Netmem.Wire;

namespace Netmem.Sockets;

/// <summary>
/// A UDP socket (<c>struct udp_sock</c>). Its state lives on one <see cref="StackContext"/> (an RX queue's
/// NAPI thread): application calls fill a pooled operation and post it there (<see cref="StackContext.Post"/>),
/// and the context completes it through a pooled IValueTaskSource, so the data path
/// takes no lock and allocates nothing once warm. Datagrams received on other RX contexts reach it through
/// a lock-free push list. Bind and connect are synchronous, as in the socket API.
/// </summary>
public sealed class UdpSocket : IDisposable
{
    private readonly UdpLayer _layer;
    private readonly NetStack _stack;
    private readonly ConcurrentQueue<UdpSendOp> _sendPool = new();
    private readonly ConcurrentQueue<UdpRecvOp> _recvPool = new();
    private readonly ServiceWork _service;
    private SkBuff? _incoming;          // LIFO pushed by RX contexts (linked by Next)
    private SkBuff? _rxHead, _rxTail;   // the receive queue, owner context only
    private UdpRecvOp? _waitHead, _waitTail;
    private long _rmem;
    private int _error;                 // sk_err, set by ICMP on any thread
    private volatile bool _closed;
    private int _rcvbuf;

    public UdpSocket(NetStack stack, int rxQueue = 0)
    {
        ArgumentNullException.ThrowIfNull(stack);
        _stack = stack;
        _layer = stack.Udp;
        if (stack.Interfaces.Count == 0) throw new NetmemErrnoException(Errno.ENODEV, "the stack has no interface for a socket context");
        Context = stack.Interfaces[0].GetContext(rxQueue);
        _service = new ServiceWork(this);
        _rcvbuf = stack.Options.UdpReceiveBuffer;
        _layer.Track(this);
    }

    /// <summary>The context that owns this socket's state.</summary>
    public StackContext Context { get; }
    public UdpEndpoint LocalEndpoint { get; private set; }
    public UdpEndpoint? RemoteEndpoint { get; private set; }
    public bool IsBound => LocalEndpoint.Port != 0;
    public bool IsConnected => RemoteEndpoint is not null;
    /// <summary>SO_RCVBUF: bytes (truesize) the receive queue may hold.</summary>
    public int ReceiveBufferSize
    {
        get => Volatile.Read(ref _rcvbuf);
        set => Volatile.Write(ref _rcvbuf, Math.Max(value, 2304)); // SOCK_MIN_RCVBUF
    }
    /// <summary>UDP_SEGMENT: when nonzero, a send larger than this is split into datagrams of this size (GSO).</summary>
    public int SegmentSize { get; set; }
    /// <summary>Datagrams dropped because the receive buffer was full.</summary>
    public long ReceiveBufferDrops;
    /// <summary>Datagrams dropped because a copying receive met unreadable payload (EFAULT to the caller).</summary>
    public long CopyFaultDrops;
    /// <summary>Bytes (truesize) queued now.</summary>
    public long QueuedBytes => Interlocked.Read(ref _rmem);

    // ------------------------------------------------------------------ bind / connect

    /// <summary><c>bind(2)</c>: port 0 picks an ephemeral port. EINVAL if already bound, EADDRNOTAVAIL for a foreign address, EADDRINUSE.</summary>
    public void Bind(UdpEndpoint local)
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        if (IsBound) throw new NetmemErrnoException(Errno.EINVAL, $"socket already bound to {LocalEndpoint}");
        if (!local.Address.IsUnspecified && _stack.FindLocal(local.Address) is null)
            throw new NetmemErrnoException(Errno.EADDRNOTAVAIL, $"{local.Address} is not an address of this host");
        LocalEndpoint = _layer.BindPort(this, local);
    }

    /// <summary>
    /// <c>connect(2)</c>: fixes the peer (datagrams from others are filtered, <see cref="SendAsync"/> goes
    /// there) and the local address the route picks. ENETUNREACH without a route.
    /// </summary>
    public void Connect(UdpEndpoint remote)
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        if (remote.Port == 0 || remote.Address.IsUnspecified) throw new NetmemErrnoException(Errno.EINVAL, $"cannot connect to {remote}");
        var e = _stack.Route(remote.Address, LocalEndpoint.Address, out var route);
        if (e != Errno.None) throw new NetmemErrnoException(e, $"connect to {remote}");
        if (!IsBound) Bind(new UdpEndpoint(Ipv4Address.Unspecified, 0));
        if (LocalEndpoint.Address.IsUnspecified) LocalEndpoint = LocalEndpoint with { Address = route.Source };
        Interlocked.Exchange(ref _error, 0);
        RemoteEndpoint = remote;
    }

    // ------------------------------------------------------------------ send

    /// <summary><c>sendto(2)</c>: completes with the bytes sent (or throws the errno: EMSGSIZE, ENETUNREACH, ECONNREFUSED...).</summary>
    public ValueTask<int> SendToAsync(ReadOnlyMemory<byte> data, UdpEndpoint destination, CancellationToken cancellationToken = default)
    {
        if (destination.Port == 0) return ValueTask.FromException<int>(new NetmemErrnoException(Errno.EINVAL, $"sendto {destination}: port 0"));
        return StartSend(data, destination, true, cancellationToken);
    }

    /// <summary><c>send(2)</c> on a connected socket (ENOTCONN otherwise; Linux says EDESTADDRREQ).</summary>
    public ValueTask<int> SendAsync(ReadOnlyMemory<byte> data, CancellationToken cancellationToken = default)
    {
        if (!IsConnected) return ValueTask.FromException<int>(new NetmemErrnoException(Errno.ENOTCONN, "send on an unconnected UDP socket needs a destination"));
        return StartSend(data, default, false, cancellationToken);
    }

    private ValueTask<int> StartSend(ReadOnlyMemory<byte> data, UdpEndpoint dst, bool hasDst, CancellationToken ct)
    {
        if (_closed) return ValueTask.FromException<int>(new ObjectDisposedException(nameof(UdpSocket)));
        if (ct.IsCancellationRequested) return ValueTask.FromCanceled<int>(ct);
        if (!IsBound)
        {
            try { Bind(new UdpEndpoint(Ipv4Address.Unspecified, 0)); }
            catch (NetmemErrnoException ex) { return ValueTask.FromException<int>(ex); }
        }
        if (!_sendPool.TryDequeue(out var op)) op = new UdpSendOp(this);
        op.Data = data;
        op.Destination = dst;
        op.HasDestination = hasDst;
        op.Token = ct;
        return op.Start(_sendPool);
    }

    internal void ReturnSend(UdpSendOp op)
    {
        if (_sendPool.Count < 16) _sendPool.Enqueue(op);
    }

    /// <summary><c>udp_sendmsg</c> on the socket's context.</summary>
    internal Errno SendOnContext(UdpSendOp op, out int sent)
    {
        sent = 0;
        if (_closed) return Errno.EBADF;
        int err = Interlocked.Exchange(ref _error, 0);
        if (err != 0 && IsConnected) return (Errno)err; // sock_error: a pending ICMP error is reported once
        var dst = op.HasDestination ? op.Destination : RemoteEndpoint!.Value;
        var local = LocalEndpoint;
        var e = _stack.Route(dst.Address, local.Address, out var route);
        if (e != Errno.None) return e;
        var data = op.Data.Span;
        int seg = SegmentSize;
        if (seg > 0 && data.Length > seg)
        {
            // UDP_SEGMENT: every segment must fit the path with its headers; at most 64 segments.
            if (seg + UdpPacket.HeaderLength + Ipv4Packet.MinHeaderLength > route.Mtu) return Errno.EINVAL;
            if ((data.Length + seg - 1) / seg > 64) return Errno.EINVAL;
            _layer.Stats.Inc(UdpMib.SegmentedSends);
            for (int off = 0; off < data.Length; off += seg)
            {
                e = SendOne(data.Slice(off, Math.Min(seg, data.Length - off)), local, dst, route);
                if (e != Errno.None) return e;
            }
            sent = data.Length;
            return Errno.None;
        }
        if (data.Length > 65535 - UdpPacket.HeaderLength - Ipv4Packet.MinHeaderLength) return Errno.EMSGSIZE;
        e = SendOne(data, local, dst, route);
        if (e == Errno.None) sent = data.Length;
        return e;
    }

    private Errno SendOne(ReadOnlySpan<byte> payload, UdpEndpoint local, UdpEndpoint dst, in IpRoute route)
    {
        var iface = _stack.GetInterface(route.IfIndex);
        if (iface is null) return Errno.ENETUNREACH;
        int ulen = UdpPacket.HeaderLength + payload.Length;
        var skb = iface.AllocTxSkb(ulen);
        if (skb is null) return Errno.ENOBUFS;
        skb.ResetTransportHeader();
        var b = skb.Put(ulen);
        payload.CopyTo(b[UdpPacket.HeaderLength..]);
        BinaryPrimitives.WriteUInt16BigEndian(b, local.Port);
        BinaryPrimitives.WriteUInt16BigEndian(b[2..], dst.Port);
        BinaryPrimitives.WriteUInt16BigEndian(b[4..], (ushort)ulen);
        var src = route.Source;
        if ((route.Features & NetdevFeatures.IpCsum) != 0)
        {
            // CHECKSUM_PARTIAL: the device sums from the UDP header; the field starts as the pseudo-header sum.
            BinaryPrimitives.WriteUInt16BigEndian(b[6..], PseudoHeader.PartialChecksum(src, dst.Address, IpProtocol.Udp, ulen));
            skb.IpSummed = SkbChecksumState.Partial;
            skb.CsumStart = skb.TransportHeader;
            skb.CsumOffset = 6;
        }
        else
        {
            b[6] = b[7] = 0;
            ushort c = PseudoHeader.Checksum(src, dst.Address, IpProtocol.Udp, ulen, InetChecksum.Partial(b));
            BinaryPrimitives.WriteUInt16BigEndian(b[6..], c == 0 ? (ushort)0xFFFF : c);
        }
        _layer.Stats.Inc(UdpMib.OutDatagrams);
        // IP_PMTUDISC_WANT: DF on what fits the path, local fragmentation of the rest.
        bool df = ulen + Ipv4Packet.MinHeaderLength <= route.Mtu;
        return _stack.Output(skb, route, src, dst.Address, IpProtocol.Udp, 0, _stack.Options.DefaultTtl, df);
    }

    // ------------------------------------------------------------------ receive

    /// <summary><c>recvfrom(2)</c>: copies the next datagram into <paramref name="buffer"/> (truncating, MSG_TRUNC reported).</summary>
    public ValueTask<UdpReceiveResult> ReceiveFromAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var op = RentRecv(buffer, UdpRecvMode.From);
        return new ValueTask<UdpReceiveResult>(op, op.Arm(cancellationToken));
    }

    /// <summary><c>recv(2)</c>: copies the next datagram, returning the bytes copied.</summary>
    public ValueTask<int> ReceiveAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
    {
        var op = RentRecv(buffer, UdpRecvMode.Count);
        return new ValueTask<int>(op, op.Arm(cancellationToken));
    }

    /// <summary>The zero-copy form: the next datagram's skb as a lease (payload possibly unreadable); dispose it.</summary>
    public ValueTask<UdpDatagram> ReceiveLeaseAsync(CancellationToken cancellationToken = default)
    {
        var op = RentRecv(default, UdpRecvMode.Lease);
        return new ValueTask<UdpDatagram>(op, op.Arm(cancellationToken));
    }

    private UdpRecvOp RentRecv(Memory<byte> buffer, UdpRecvMode mode)
    {
        ObjectDisposedException.ThrowIf(_closed, this);
        if (!_recvPool.TryDequeue(out var op)) op = new UdpRecvOp(this);
        op.Buffer = buffer;
        op.Mode = mode;
        return op;
    }

    internal void ReturnRecv(UdpRecvOp op)
    {
        if (_recvPool.Count < 16) _recvPool.Enqueue(op);
    }

    internal void StartReceive(UdpRecvOp op)
    {
        Service();
        if (_closed) { op.Fail(Errno.EBADF, "socket closed"); return; }
        if (_waitHead is null)
        {
            if (TryReportError(op)) return;
            if (_rxHead is not null)
            {
                Deliver(op, Dequeue());
                return;
            }
        }
        op.MarkWaiting();
        op.NextWaiter = null;
        if (_waitTail is null) _waitHead = op; else _waitTail.NextWaiter = op;
        _waitTail = op;
    }

    internal bool RemoveWaiter(UdpRecvOp op)
    {
        UdpRecvOp? prev = null;
        for (var w = _waitHead; w is not null; prev = w, w = w.NextWaiter)
        {
            if (w != op) continue;
            if (prev is null) _waitHead = w.NextWaiter; else prev.NextWaiter = w.NextWaiter;
            if (_waitTail == w) _waitTail = prev;
            w.NextWaiter = null;
            return true;
        }
        return false;
    }

    private bool TryReportError(UdpRecvOp op)
    {
        if (!IsConnected || Volatile.Read(ref _error) == 0) return false;
        int err = Interlocked.Exchange(ref _error, 0);
        if (err == 0) return false;
        op.Fail((Errno)err, $"udp receive from {RemoteEndpoint}");
        return true;
    }

    private SkBuff Dequeue()
    {
        var skb = _rxHead!;
        _rxHead = skb.Next;
        if (_rxHead is null) _rxTail = null;
        skb.Next = null;
        Interlocked.Add(ref _rmem, -skb.Truesize);
        return skb;
    }

    private static UdpEndpoint SourceOf(SkBuff skb)
    {
        var ip = skb.GetHeadSpan(skb.NetworkHeader, Ipv4Packet.MinHeaderLength);
        var udp = skb.GetHeadSpan(skb.TransportHeader, UdpPacket.HeaderLength);
        return new UdpEndpoint(Ipv4Address.Read(ip[12..]), BinaryPrimitives.ReadUInt16BigEndian(udp));
    }

    private void Deliver(UdpRecvOp op, SkBuff skb)
    {
        var from = SourceOf(skb);
        if (op.Mode == UdpRecvMode.Lease)
        {
            op.Lease = new UdpDatagram(skb, from);
            op.Complete(new UdpReceiveResult(skb.Len, from, false, skb.Len));
            return;
        }
        int len = skb.Len;
        int n = Math.Min(len, op.Buffer.Length);
        if (skb.AnyUnreadable && n > skb.HeadLen)
        {
            // udp_recvmsg: a failed copy drops the datagram and counts it (sk_drops, UDP_MIB_INERRORS).
            _layer.Stats.Inc(UdpMib.InErrors);
            Interlocked.Increment(ref CopyFaultDrops);
            skb.Free(); // deferred back to the RX cache's NAPI when freed elsewhere
            op.Fail(Errno.EFAULT, "the datagram's payload is unreadable device memory: use ReceiveLeaseAsync");
            return;
        }
        skb.CopyBits(0, op.Buffer.Span[..n]);
        skb.Free(); // deferred back to the RX cache's NAPI when freed elsewhere
        op.Complete(new UdpReceiveResult(n, from, len > n, len));
    }

    /// <summary>
    /// Called by UDP input on the RX context with <paramref name="skb"/>'s data at the payload. Charges the
    /// receive buffer (drops over SO_RCVBUF) and hands the skb to the owner context.
    /// </summary>
    internal bool Enqueue(SkBuff skb, StackContext? current)
    {
        if (_closed) return false;
        if (Interlocked.Read(ref _rmem) + skb.Truesize > Volatile.Read(ref _rcvbuf))
        {
            Interlocked.Increment(ref ReceiveBufferDrops);
            return false;
        }
        Interlocked.Add(ref _rmem, skb.Truesize);
        SkBuff? head;
        do
        {
            head = Volatile.Read(ref _incoming);
            skb.Next = head;
        }
        while (Interlocked.CompareExchange(ref _incoming, skb, head) != head);
        if (ReferenceEquals(current, Context)) Service();
        else Context.Post(_service);
        return true;
    }

    /// <summary>An ICMP error for a connected socket (any thread): remembered as sk_err and reported once.</summary>
    internal void SetError(Errno e)
    {
        Volatile.Write(ref _error, (int)e);
        Context.Post(_service);
    }

    /// <summary>On the owner context: moves pushed datagrams to the queue and completes waiting receives.</summary>
    private void Service()
    {
        var list = Interlocked.Exchange(ref _incoming, null);
        if (list is not null)
        {
            SkBuff? fifo = null;
            while (list is not null)
            {
                var next = list.Next;
                list.Next = fifo;
                fifo = list;
                list = next;
            }
            while (fifo is not null)
            {
                var next = fifo.Next;
                fifo.Next = null;
                if (_rxTail is null) _rxHead = fifo; else _rxTail.Next = fifo;
                _rxTail = fifo;
                fifo = next;
            }
        }
        if (_closed) { Purge(); return; }
        while (_waitHead is not null)
        {
            var op = _waitHead;
            if (!TryTakeForWaiter(op)) break;
        }
    }

    private bool TryTakeForWaiter(UdpRecvOp op)
    {
        bool error = IsConnected && Volatile.Read(ref _error) != 0;
        if (!error && _rxHead is null) return false;
        _waitHead = op.NextWaiter;
        if (_waitHead is null) _waitTail = null;
        op.NextWaiter = null;
        if (error && TryReportError(op)) return true;
        Deliver(op, Dequeue());
        return true;
    }

    private void Purge()
    {
        while (_rxHead is not null)
        {
            _layer.Stats.Inc(UdpMib.ClosedDrops);
            Dequeue().Free();
        }
        var list = Interlocked.Exchange(ref _incoming, null);
        while (list is not null)
        {
            var next = list.Next;
            list.Next = null;
            Interlocked.Add(ref _rmem, -list.Truesize);
            _layer.Stats.Inc(UdpMib.ClosedDrops);
            list.Free();
            list = next;
        }
        while (_waitHead is not null)
        {
            var op = _waitHead;
            _waitHead = op.NextWaiter;
            op.NextWaiter = null;
            op.Fail(Errno.EBADF, "socket closed");
        }
        _waitTail = null;
    }

    private sealed class ServiceWork(UdpSocket s) : StackWork
    {
        protected internal override void Run(StackContext context) => s.Service();
    }

    /// <summary>Unbinds now and frees what is queued on the owner context.</summary>
    public void Dispose()
    {
        if (_closed) return;
        _closed = true;
        _layer.Unbind(this);
        Context.Post(_service);
    }

    /// <summary>Stack shutdown: frees everything on the calling thread (the contexts are stopping).</summary>
    internal void CloseNow()
    {
        _closed = true;
        _layer.Unbind(this);
        Purge();
    }

    public override string ToString() => $"udp {LocalEndpoint}{(RemoteEndpoint is { } r ? $" -> {r}" : "")}";
}
