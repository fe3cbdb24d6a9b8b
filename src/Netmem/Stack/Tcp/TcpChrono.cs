namespace Netmem.Stack.Tcp;

/// <summary>What a connection's sending is limited by now (<c>enum tcp_chrono</c>); a higher value takes precedence.</summary>
public enum TcpChronoType : byte
{
    Unspec = 0,
    /// <summary>Data queued or in flight (TCP_CHRONO_BUSY).</summary>
    Busy = 1,
    /// <summary>Data waiting because the peer's receive window does not take the next segment (TCP_CHRONO_RWND_LIMITED).</summary>
    RwndLimited = 2,
    /// <summary>A writer waiting for send-buffer space (TCP_CHRONO_SNDBUF_LIMITED).</summary>
    SndbufLimited = 3,
}

/// <summary>
/// Linux's send chronograph (<c>tcp_chrono_start</c>/<c>tcp_chrono_stop</c>): microseconds spent in each
/// <see cref="TcpChronoType"/>, one running at a time, for tcpi_busy_time, tcpi_rwnd_limited and
/// tcpi_sndbuf_limited. A mutable struct held in a field (no allocation).
/// </summary>
public struct TcpChrono
{
    private long _busyUs, _rwndUs, _sndbufUs, _startUs;

    public TcpChronoType Type { get; private set; }

    /// <summary>Starts <paramref name="type"/> unless something of higher precedence runs already.</summary>
    public void Start(TcpChronoType type, long nowUs)
    {
        if (type > Type) Set(type, nowUs);
    }

    /// <summary>
    /// Ends <paramref name="type"/>: with nothing queued or in flight the chronograph stops; otherwise, if
    /// <paramref name="type"/> was the one running, the connection counts as busy again.
    /// </summary>
    public void Stop(TcpChronoType type, long nowUs, bool queuesEmpty)
    {
        if (queuesEmpty) Set(TcpChronoType.Unspec, nowUs);
        else if (type == Type) Set(TcpChronoType.Busy, nowUs);
    }

    private void Set(TcpChronoType type, long nowUs)
    {
        if (type == Type) return;
        Add(Type, nowUs - _startUs);
        _startUs = nowUs;
        Type = type;
    }

    private void Add(TcpChronoType type, long us)
    {
        switch (type)
        {
            case TcpChronoType.Busy: _busyUs += us; break;
            case TcpChronoType.RwndLimited: _rwndUs += us; break;
            case TcpChronoType.SndbufLimited: _sndbufUs += us; break;
        }
    }

    /// <summary>Totals up to <paramref name="nowUs"/> (the running one included); busy is the sum of all three, as tcpi_busy_time.</summary>
    public readonly (long BusyUs, long RwndLimitedUs, long SndbufLimitedUs) Totals(long nowUs)
    {
        long busy = _busyUs, rwnd = _rwndUs, sndbuf = _sndbufUs, running = nowUs - _startUs;
        switch (Type)
        {
            case TcpChronoType.Busy: busy += running; break;
            case TcpChronoType.RwndLimited: rwnd += running; break;
            case TcpChronoType.SndbufLimited: sndbuf += running; break;
        }
        return (busy + rwnd + sndbuf, rwnd, sndbuf);
    }
}
