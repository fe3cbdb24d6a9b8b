namespace Netmem.Stack.Tcp;

/// <summary>Per-range state bits of <see cref="TcpRtxQueue"/> (Linux's <c>TCP_SKB_CB(skb)->sacked</c> and the PSH of <c>tcp_flags</c>).</summary>
[Flags]
public enum TcpRtxFlags : byte
{
    None = 0,
    /// <summary>TCPCB_SACKED_ACKED: the receiver reported holding it.</summary>
    Sacked = 1,
    /// <summary>TCPCB_SACKED_RETRANS: a retransmission of it is in flight (cleared when it is marked lost again).</summary>
    Retrans = 2,
    /// <summary>TCPCB_EVER_RETRANS: it was retransmitted at least once.</summary>
    EverRetrans = 4,
    /// <summary>TCPCB_LOST: judged lost (by RACK) and not yet SACKed or acknowledged.</summary>
    Lost = 8,
    /// <summary>The segment that ends with this range's last byte carried PSH (a push mark or a record end): a retransmission ending there carries it again.</summary>
    Push = 16,
}

/// <summary>One transmitted range of <see cref="TcpRtxQueue"/>: [Seq, End), when it last left, its state bits.</summary>
public struct TcpRtxEntry
{
    public uint Seq, End;
    /// <summary>When the range was last (re)transmitted (<c>tcp_skb_timestamp_us</c>).</summary>
    public long XmitUs;
    public TcpRtxFlags Flags;
    public readonly uint Length => End - Seq;
}

/// <summary>
/// The sender's record of what is in flight (<c>tcp_rtx_queue</c>'s per-skb metadata, without the data, which
/// stays in <see cref="TcpSendBuffer"/>): transmitted ranges above snd.una in sequence order, each with its
/// last transmission time and SACKED/RETRANS/LOST bits, as RACK needs them. A range is split where a SACK
/// block, a retransmission or a partial ACK cuts it (<c>tcp_fragment</c>); the pieces keep the time and bits.
/// Byte totals of the SACKED, LOST and RETRANS bits are kept as the bits change.
/// </summary>
/// <remarks>A ring that doubles when full (warm-up only): no allocation per segment once it has grown to the window.</remarks>
public sealed class TcpRtxQueue
{
    private TcpRtxEntry[] _ring;
    private int _head, _count;

    public TcpRtxQueue(int capacity = 64)
    {
        int c = 1;
        while (c < Math.Max(4, capacity)) c <<= 1;
        _ring = new TcpRtxEntry[c];
    }

    /// <summary>Ranges held.</summary>
    public int Count => _count;
    /// <summary>Bytes with <see cref="TcpRtxFlags.Sacked"/>.</summary>
    public long SackedBytes { get; private set; }
    /// <summary>Bytes with <see cref="TcpRtxFlags.Lost"/> (lost_out in bytes).</summary>
    public long LostBytes { get; private set; }
    /// <summary>Bytes with <see cref="TcpRtxFlags.Retrans"/> (retrans_out in bytes).</summary>
    public long RetransBytes { get; private set; }
    /// <summary>Where the highest range ends (snd.max as this queue knows it), or the last <see cref="Clear"/>'s point.</summary>
    public uint TailEnd { get; private set; }

    /// <summary>Range <paramref name="index"/>, lowest sequence first.</summary>
    public ref TcpRtxEntry this[int index]
    {
        get
        {
            if ((uint)index >= (uint)_count) throw new ArgumentOutOfRangeException(nameof(index), index, $"the queue holds {_count} ranges");
            return ref _ring[(_head + index) & (_ring.Length - 1)];
        }
    }

    /// <summary>Forgets everything; the next range starts at <paramref name="una"/>.</summary>
    public void Clear(uint una)
    {
        _head = 0;
        _count = 0;
        SackedBytes = LostBytes = RetransBytes = 0;
        TailEnd = una;
    }

    /// <summary>Sets <paramref name="f"/> on range <paramref name="index"/>, keeping the totals.</summary>
    public void SetFlags(int index, TcpRtxFlags f)
    {
        ref var e = ref this[index];
        Account(e, f & ~e.Flags & (TcpRtxFlags.Sacked | TcpRtxFlags.Lost | TcpRtxFlags.Retrans), +1);
        e.Flags |= f;
    }

    /// <summary>Clears <paramref name="f"/> on range <paramref name="index"/>, keeping the totals.</summary>
    public void ClearFlags(int index, TcpRtxFlags f)
    {
        ref var e = ref this[index];
        Account(e, e.Flags & f & (TcpRtxFlags.Sacked | TcpRtxFlags.Lost | TcpRtxFlags.Retrans), -1);
        e.Flags &= ~f;
    }

    /// <summary>Clears <paramref name="f"/> on every range (SACK state forgotten after an RTO).</summary>
    public void ClearAll(TcpRtxFlags f)
    {
        for (int i = 0; i < _count; i++) ClearFlags(i, f);
    }

    /// <summary>
    /// Records a transmission of [<paramref name="seq"/>, <paramref name="end"/>) at <paramref name="nowUs"/>: the part already
    /// in the queue is a retransmission (RETRANS and EVER_RETRANS set, time updated), the part past
    /// <see cref="TailEnd"/> a new range. <paramref name="push"/>: the segment carried PSH.
    /// </summary>
    public void OnTransmit(uint seq, uint end, long nowUs, bool push)
    {
        if (!SeqNum.Lt(seq, end)) return;
        if (_count == 0 && SeqNum.Lt(TailEnd, seq)) TailEnd = seq;
        if (SeqNum.Lt(seq, TailEnd))
        {
            uint rxEnd = SeqNum.Min(end, TailEnd);
            int i = SplitAt(seq);
            int last = SplitAt(rxEnd);
            for (int j = i; j < last; j++)
            {
                ref var e = ref this[j];
                e.XmitUs = nowUs;
                SetFlags(j, TcpRtxFlags.Retrans | TcpRtxFlags.EverRetrans);
            }
            if (push && last > i && rxEnd == end) SetFlags(last - 1, TcpRtxFlags.Push);
        }
        if (SeqNum.Gt(end, TailEnd))
        {
            uint start = SeqNum.Max(seq, TailEnd);
            if (_count == _ring.Length) Grow();
            ref var n = ref _ring[(_head + _count) & (_ring.Length - 1)];
            n = new TcpRtxEntry { Seq = start, End = end, XmitUs = nowUs, Flags = push ? TcpRtxFlags.Push : 0 };
            _count++;
            TailEnd = end;
        }
    }

    /// <summary>Index of the range holding <paramref name="seq"/>, or -1.</summary>
    public int IndexOf(uint seq)
    {
        int lo = 0, hi = _count - 1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >> 1;
            ref var e = ref this[mid];
            if (SeqNum.Lt(seq, e.Seq)) hi = mid - 1;
            else if (SeqNum.Ge(seq, e.End)) lo = mid + 1;
            else return mid;
        }
        return -1;
    }

    /// <summary>
    /// Makes a range start at <paramref name="seq"/> (splitting the one holding it: both pieces keep its time and bits, the
    /// push mark staying with the upper piece) and returns its index; <see cref="Count"/> when <paramref name="seq"/> is at or past the end,
    /// 0 when below the first range.
    /// </summary>
    public int SplitAt(uint seq)
    {
        if (_count == 0) return 0;
        if (SeqNum.Le(seq, this[0].Seq)) return 0;
        if (SeqNum.Ge(seq, this[_count - 1].End)) return _count;
        int i = IndexOf(seq);
        if (i < 0)
        {
            // In a gap between ranges (a range never recorded): the first range above it.
            int k = 0;
            while (k < _count && SeqNum.Le(this[k].End, seq)) k++;
            return k;
        }
        ref var e = ref this[i];
        if (e.Seq == seq) return i;
        if (_count == _ring.Length) { Grow(); e = ref this[i]; }
        // Shift [i+1, count) up by one, then put the upper piece at i+1.
        for (int j = _count; j > i + 1; j--) this.SlotRef(j) = this.SlotRef(j - 1);
        var upper = e;
        upper.Seq = seq;
        e.End = seq;
        e.Flags &= ~TcpRtxFlags.Push;
        _count++;
        this.SlotRef(i + 1) = upper;
        return i + 1;
    }

    /// <summary>snd.una moved to <paramref name="una"/>: ranges wholly below it go, one straddling it is trimmed.</summary>
    public void AckTo(uint una)
    {
        while (_count > 0)
        {
            ref var e = ref _ring[_head];
            if (SeqNum.Le(e.End, una))
            {
                Account(e, e.Flags, -1);
                e = default;
                _head = (_head + 1) & (_ring.Length - 1);
                _count--;
                continue;
            }
            if (SeqNum.Lt(e.Seq, una))
            {
                // Trim the head: the totals lose the acknowledged bytes, not the range.
                uint cut = una - e.Seq;
                if ((e.Flags & TcpRtxFlags.Sacked) != 0) SackedBytes -= cut;
                if ((e.Flags & TcpRtxFlags.Lost) != 0) LostBytes -= cut;
                if ((e.Flags & TcpRtxFlags.Retrans) != 0) RetransBytes -= cut;
                e.Seq = una;
            }
            break;
        }
        if (_count == 0 && SeqNum.Lt(TailEnd, una)) TailEnd = una;
    }

    private ref TcpRtxEntry SlotRef(int index) => ref _ring[(_head + index) & (_ring.Length - 1)];

    private void Account(in TcpRtxEntry e, TcpRtxFlags f, int sign)
    {
        long len = e.End - e.Seq;
        if ((f & TcpRtxFlags.Sacked) != 0) SackedBytes += sign * len;
        if ((f & TcpRtxFlags.Lost) != 0) LostBytes += sign * len;
        if ((f & TcpRtxFlags.Retrans) != 0) RetransBytes += sign * len;
    }

    private void Grow()
    {
        var n = new TcpRtxEntry[_ring.Length * 2];
        for (int i = 0; i < _count; i++) n[i] = _ring[(_head + i) & (_ring.Length - 1)];
        _ring = n;
        _head = 0;
    }

    public override string ToString() =>
        $"rtx queue ({_count} ranges to {TailEnd}, {SackedBytes} SACKed, {LostBytes} lost, {RetransBytes} retransmitted bytes)";
}
