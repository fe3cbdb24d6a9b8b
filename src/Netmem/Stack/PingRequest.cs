using System.Threading.Tasks.Sources;
using Netmem.Skb;
using Netmem.Wire;

namespace Netmem.Stack;

/// <summary>What a ping got back.</summary>
public readonly record struct PingReply(Ipv4Address From, ushort Sequence, int Length, bool PayloadMatches, TimeSpan RoundTrip, byte TimeToLive);

/// <summary>
/// One outstanding echo request (a test and CLI helper, not a hot path: one object per ping). It is posted
/// to the interface's first context, which sends it and arms its timeout; the reply may complete it from
/// any RX context, so completion is decided by one compare-and-swap.
/// </summary>
internal sealed class PingRequest : StackWork, IStackTimerTarget, IValueTaskSource<PingReply>
{
    private const int Pending = 0, Done = 1;
    private readonly IcmpLayer _icmp;
    private readonly StackTimer _timer;
    private readonly TimeSpan _timeout;
    private readonly CancellationToken _ct;
    private ManualResetValueTaskSourceCore<PingReply> _core = new() { RunContinuationsAsynchronously = true };
    private int _state;
    private long _sentUs;
    private CancellationTokenRegistration _reg;

    public PingRequest(IcmpLayer icmp, NetInterface iface, Ipv4Address destination, IpRoute route, ushort ident, ushort sequence, byte[] payload, TimeSpan timeout, CancellationToken ct)
    {
        _icmp = icmp;
        Interface = iface;
        Destination = destination;
        Route = route;
        Ident = ident;
        Sequence = sequence;
        Payload = payload;
        _timeout = timeout;
        _ct = ct;
        _timer = new StackTimer(this);
        if (ct.CanBeCanceled) _reg = ct.UnsafeRegister(static s => ((PingRequest)s!).TryFail(Errno.None), this);
    }

    public NetInterface Interface { get; }
    public Ipv4Address Destination { get; }
    public IpRoute Route { get; }
    public ushort Ident { get; }
    public ushort Sequence { get; }
    public byte[] Payload { get; }
    public ValueTask<PingReply> Task => new(this, _core.Version);

    protected internal override void Run(StackContext context)
    {
        if (Volatile.Read(ref _state) != Pending) return;
        _sentUs = Interface.Stack.NowUs;
        context.ArmTimer(_timer, context.NowUs + (long)(_timeout.Ticks / TimeSpan.TicksPerMicrosecond));
        var e = _icmp.SendEcho(this);
        if (e != Errno.None && e != Errno.EMSGSIZE) TryFail(e);
        else if (e == Errno.EMSGSIZE) TryFail(e);
    }

    public void OnTimer(StackTimer timer, int kind, long nowUs) => TryFail(Errno.ETIMEDOUT);

    /// <summary>Completes with the reply in <paramref name="skb"/> (data at the ICMP header); false if already done.</summary>
    public bool TryComplete(in Ipv4Meta ip, SkBuff skb, long nowUs)
    {
        if (Interlocked.CompareExchange(ref _state, Done, Pending) != Pending) return false;
        int len = skb.Len - Icmpv4Packet.HeaderLength;
        bool match = len == Payload.Length;
        if (match && len > 0)
        {
            if (skb.AnyUnreadable && skb.Len > skb.HeadLen) match = false;
            else
            {
                var got = new byte[len];
                skb.CopyBits(Icmpv4Packet.HeaderLength, got);
                match = got.AsSpan().SequenceEqual(Payload);
            }
        }
        ushort seq = System.Buffers.Binary.BinaryPrimitives.ReadUInt16BigEndian(skb.Data[6..]);
        Finish();
        _core.SetResult(new PingReply(ip.Source, seq, len, match, TimeSpan.FromTicks((nowUs - _sentUs) * TimeSpan.TicksPerMicrosecond), ip.TimeToLive));
        return true;
    }

    /// <summary>Fails the ping (Errno.None means cancelled); false if already done.</summary>
    public bool TryFail(Errno errno)
    {
        if (Interlocked.CompareExchange(ref _state, Done, Pending) != Pending) return false;
        Finish();
        Exception ex = errno == Errno.None
            ? new OperationCanceledException(_ct)
            : new NetmemErrnoException(errno, errno == Errno.ETIMEDOUT ? $"ping {Destination}: no reply within {_timeout}" : $"ping {Destination} failed");
        _core.SetException(ex);
        return true;
    }

    private void Finish()
    {
        _icmp.Forget(this);
        _reg.Dispose();
        // The timer is left to fire (it may belong to another thread's context); it finds the ping done.
    }

    public PingReply GetResult(short token) => _core.GetResult(token);
    public ValueTaskSourceStatus GetStatus(short token) => _core.GetStatus(token);
    public void OnCompleted(Action<object?> continuation, object? state, short token, ValueTaskSourceOnCompletedFlags flags) =>
        _core.OnCompleted(continuation, state, token, flags);
}
