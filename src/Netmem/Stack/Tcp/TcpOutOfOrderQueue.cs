using System.Diagnostics.CodeAnalysis;
using Netmem.Skb;
using Netmem.Wire;

namespace Netmem.Stack.Tcp;

/// <summary>
/// The receiver's out-of-order queue (<c>tp-&gt;out_of_order_queue</c>, <c>tcp_data_queue_ofo</c>,
/// <c>tcp_ofo_queue</c>, <c>tcp_sack_new_ofo_skb</c>): segments that arrived above rcv.nxt, kept sorted and
/// disjoint in a fixed-capacity array, until the hole below them is filled.
/// </summary>
/// <remarks>
/// <para>
/// Overlaps follow Linux's rule that data already queued is kept: a new segment wholly inside queued data
/// is freed, queued segments wholly inside the new one are freed, and a partial overlap trims the new segment
/// (its front with a head trim that reads no payload, its tail with <c>pskb_trim</c>). Every byte dropped as a
/// repeat counts in <see cref="DuplicateBytes"/>. Linux keeps partial overlaps and skips them at read time;
/// trimming keeps <see cref="Bytes"/> exact and the SACK blocks simple.
/// </para>
/// <para>
/// The queue owns every skb passed to <see cref="Insert"/> (it frees those it does not keep) until
/// <see cref="TryTakeInOrder"/> hands one back. When full, the segment farthest from rcv.nxt is dropped
/// (<c>tcp_prune_ofo_queue</c> prunes from the far end), counted in <see cref="Drops"/>.
/// Payload is never read, so skbs with unreadable (device memory) frags are fine.
/// </para>
/// </remarks>
public sealed partial class TcpOutOfOrderQueue
{
    /// <summary>Segments held by default.</summary>
    public const int DefaultCapacity = 256;

    private struct Entry
    {
        public uint Seq, End;
        public long Stamp; // arrival order, for RFC 2018's block order
        public SkBuff Skb;
    }

    private readonly Entry[] _e;
    private int _count;
    private long _bytes;
    private long _stamp;

    public TcpOutOfOrderQueue(int capacity = DefaultCapacity)
    {
        if (capacity < 1) throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "the queue needs room for at least one segment");
        _e = new Entry[capacity];
    }

    /// <summary>Segments the queue can hold.</summary>
    public int Capacity => _e.Length;
    /// <summary>Segments queued.</summary>
    public int Count => _count;
    /// <summary>Payload bytes queued.</summary>
    public long Bytes => _bytes;
    /// <summary>Bytes that arrived again and were dropped (overlaps, wholly repeated segments, data below rcv.nxt).</summary>
    public long DuplicateBytes { get; private set; }
    /// <summary>Segments dropped because the queue was full or an skb could not be trimmed.</summary>
    public long Drops { get; private set; }
    /// <summary>
    /// The first repeated range of the last <see cref="Insert"/> (for a D-SACK, RFC 2883); empty
    /// (<c>Left == Right</c>) when it brought only new bytes.
    /// </summary>
    public TcpSackBlock LastInsertDuplicate { get; private set; }
    /// <summary>The lowest queued sequence number (valid when <see cref="Count"/> &gt; 0).</summary>
    public uint FirstSeq => _count > 0 ? _e[0].Seq : 0;
    /// <summary>The end of the highest queued segment (valid when <see cref="Count"/> &gt; 0).</summary>
    public uint LastEnd => _count > 0 ? _e[_count - 1].End : 0;

    /// <summary>
    /// Queues <paramref name="skb"/>, whose payload (all of <c>skb.Len</c>: headers already pulled) starts at
    /// <paramref name="seq"/>. The queue owns the skb from now on. Returns whether any new byte was queued.
    /// </summary>
    public bool Insert(uint seq, SkBuff skb)
    {
        ArgumentNullException.ThrowIfNull(skb);
        LastInsertDuplicate = default;
        if (skb.Len == 0)
        {
            skb.Free();
            return false;
        }
        uint end = seq + (uint)skb.Len;
        int i = 0;
        while (i < _count && SeqNum.Le(_e[i].End, seq)) i++; // first segment ending after seq

        while (i < _count && SeqNum.Lt(_e[i].Seq, end))
        {
            ref var q = ref _e[i];
            if (SeqNum.Le(q.Seq, seq) && SeqNum.Ge(q.End, end))
            {
                // Wholly inside queued data.
                NoteDuplicate(seq, end);
                skb.Free();
                return false;
            }
            if (SeqNum.Le(q.Seq, seq))
            {
                // Queued data covers the new segment's front: keep it, trim the new one.
                int cut = SeqNum.Diff(q.End, seq);
                if (!SkBuff.TrimHead(ref skb, cut)) return DropNew(skb);
                NoteDuplicate(seq, q.End);
                seq = q.End;
                i++;
                continue;
            }
            if (SeqNum.Le(q.End, end))
            {
                // The new segment covers this queued one: free it (Linux replaces such segments).
                NoteDuplicate(q.Seq, q.End);
                _bytes -= q.Skb.Len;
                q.Skb.Free();
                RemoveAt(i);
                continue;
            }
            // Queued data covers the new segment's tail.
            if (!SkBuff.TrimTail(ref skb, SeqNum.Diff(q.Seq, seq))) return DropNew(skb);
            NoteDuplicate(q.Seq, end);
            end = q.Seq;
            break;
        }

        if (_count == _e.Length)
        {
            // Full: drop whatever is farthest from rcv.nxt.
            if (i == _count) return DropNew(skb);
            ref var last = ref _e[_count - 1];
            _bytes -= last.Skb.Len;
            last.Skb.Free();
            last = default;
            _count--;
            Drops++;
        }
        Array.Copy(_e, i, _e, i + 1, _count - i);
        _e[i] = new Entry { Seq = seq, End = end, Stamp = ++_stamp, Skb = skb };
        _count++;
        _bytes += skb.Len;
        return true;
    }

    /// <summary>
    /// Takes the lowest segment if it starts at or below <paramref name="rcvNxt"/>, trimmed to start exactly
    /// there (segments wholly below rcv.nxt are freed as duplicates on the way). The caller owns the skb.
    /// </summary>
    public bool TryTakeInOrder(uint rcvNxt, out uint seq, [MaybeNullWhen(false)] out SkBuff skb)
    {
        while (_count > 0 && SeqNum.Le(_e[0].Seq, rcvNxt))
        {
            var q = _e[0];
            RemoveAt(0);
            _bytes -= q.Skb.Len;
            if (SeqNum.Le(q.End, rcvNxt))
            {
                DuplicateBytes += q.End - q.Seq;
                q.Skb.Free();
                continue;
            }
            var s = q.Skb;
            int cut = SeqNum.Diff(rcvNxt, q.Seq);
            if (!SkBuff.TrimHead(ref s, cut))
            {
                s.Free();
                Drops++;
                continue;
            }
            DuplicateBytes += cut;
            seq = rcvNxt;
            skb = s;
            return true;
        }
        seq = 0;
        skb = null;
        return false;
    }

    /// <summary>
    /// Writes up to <paramref name="max"/> SACK blocks (runs of contiguous queued data) into
    /// <paramref name="into"/> in RFC 2018's order: the block holding the most recently received segment first,
    /// then the others by how recently they last grew. Returns how many were written.
    /// </summary>
    public int FillSackBlocks(Span<TcpSackBlock> into, int max)
    {
        int n = Math.Min(max, into.Length);
        long below = long.MaxValue;
        int written = 0;
        while (written < n)
        {
            // The run whose newest segment is the newest below the last one picked (stamps are unique).
            long best = -1;
            uint bestLeft = 0, bestRight = 0;
            int i = 0;
            while (i < _count)
            {
                uint left = _e[i].Seq;
                long stamp = _e[i].Stamp;
                int j = i + 1;
                while (j < _count && _e[j].Seq == _e[j - 1].End)
                {
                    if (_e[j].Stamp > stamp) stamp = _e[j].Stamp;
                    j++;
                }
                if (stamp < below && stamp > best)
                {
                    best = stamp;
                    bestLeft = left;
                    bestRight = _e[j - 1].End;
                }
                i = j;
            }
            if (best < 0) break;
            into[written++] = new TcpSackBlock(bestLeft, bestRight);
            below = best;
        }
        return written;
    }

    /// <summary><c>skb_rbtree_purge</c>: frees every queued segment (connection reset or close, or reneging).</summary>
    public void Purge()
    {
        for (int i = 0; i < _count; i++)
        {
            _e[i].Skb.Free();
            _e[i] = default;
        }
        _count = 0;
        _bytes = 0;
    }

    private void NoteDuplicate(uint from, uint to)
    {
        DuplicateBytes += to - from;
        if (LastInsertDuplicate.Left == LastInsertDuplicate.Right) LastInsertDuplicate = new TcpSackBlock(from, to);
    }

    private bool DropNew(SkBuff skb)
    {
        skb.Free();
        Drops++;
        return false;
    }

    private void RemoveAt(int i)
    {
        Array.Copy(_e, i + 1, _e, i, _count - i - 1);
        _count--;
        _e[_count] = default;
    }

    public override string ToString() => $"tcp ofo queue ({_count} segments, {_bytes} bytes, {DuplicateBytes} duplicate)";
}
