namespace Netmem.Stack.Tcp;

/// <summary>
/// When each burst of new data was sent (the <c>skb_mstamp</c> of the skbs in Linux's retransmit queue), for the
/// per-ACK RTT sample congestion control takes (<c>ca_rtt_us</c>: from the newest burst an ACK covers; none when
/// the ACK covers a retransmitted one, Karn). A fixed ring: when more bursts are outstanding than it holds, the
/// oldest are forgotten and the ACKs covering only them give no sample.
/// </summary>
internal sealed class TcpXmitTimes
{
    private const int Capacity = 64;
    private readonly uint[] _start = new uint[Capacity], _end = new uint[Capacity];
    private readonly long[] _sentUs = new long[Capacity];
    private readonly bool[] _retrans = new bool[Capacity];
    private int _head, _count;

    /// <summary>When the oldest outstanding burst was first sent, or -1 when none is remembered.</summary>
    public long OldestSentUs => _count > 0 ? _sentUs[_head] : -1;

    /// <summary>Forgets everything (a new connection).</summary>
    public void Clear() => _head = _count = 0;

    /// <summary>[<paramref name="seq"/>, <paramref name="end"/>) was sent at <paramref name="nowUs"/>; <paramref name="retrans"/> when it (partly) went before.</summary>
    public void Sent(uint seq, uint end, long nowUs, bool retrans)
    {
        if (!SeqNum.Lt(seq, end)) return;
        if (retrans) MarkRetransmitted(seq, end);
        uint from = _count > 0 && SeqNum.Gt(_end[Slot(_count - 1)], seq) ? _end[Slot(_count - 1)] : seq;
        if (!SeqNum.Lt(from, end)) return;
        if (_count == Capacity) { _head = (_head + 1) % Capacity; _count--; }
        int i = Slot(_count++);
        _start[i] = from;
        _end[i] = end;
        _sentUs[i] = nowUs;
        _retrans[i] = retrans;
    }

    /// <summary>[<paramref name="seq"/>, <paramref name="end"/>) was sent again: no RTT sample from the bursts it overlaps.</summary>
    public void MarkRetransmitted(uint seq, uint end)
    {
        for (int k = 0; k < _count; k++)
        {
            int i = Slot(k);
            if (SeqNum.Lt(_start[i], end) && SeqNum.Gt(_end[i], seq)) _retrans[i] = true;
        }
    }

    /// <summary>
    /// snd.una moved to <paramref name="ack"/>: retires the bursts it covers and returns the RTT of the newest one it
    /// reaches into (fully or partly), or -1 when none or when any of them was retransmitted.
    /// </summary>
    public long Acked(uint ack, long nowUs)
    {
        long sentUs = -1;
        bool retrans = false;
        while (_count > 0 && !SeqNum.Gt(_end[_head], ack))
        {
            sentUs = _sentUs[_head];
            retrans |= _retrans[_head];
            _head = (_head + 1) % Capacity;
            _count--;
        }
        if (_count > 0 && SeqNum.Gt(ack, _start[_head]))
        {
            sentUs = _sentUs[_head]; // a TSO burst acknowledged in part (tcp_tso_acked)
            retrans |= _retrans[_head];
            _start[_head] = ack;
        }
        return sentUs < 0 || retrans ? -1 : Math.Max(1, nowUs - sentUs);
    }

    private int Slot(int k) => (_head + k) % Capacity;
}
