// TEMPORARY stand-ins for two tcp-parts components (SackScoreboard, TcpOutOfOrderQueue) written to the
// COMPONENTS.md contract so the engine compiles before branch tcp-parts commits them. Deleted at that merge.
using Netmem.Skb;
using Netmem.Wire;

namespace Netmem.Stack.Tcp;

internal sealed class SackScoreboard
{
    private readonly List<TcpSackBlock> _blocks = new(16); // sorted, disjoint, above snd.una
    public bool LastUpdateHadDsack { get; private set; }
    public uint HighestSacked { get; private set; }
    public long SackedBytes { get { long s = 0; foreach (var b in _blocks) s += b.Right - b.Left; return s; } }
    public int HoleCount => _blocks.Count;

    public void Reset(uint sndUna) { _blocks.Clear(); HighestSacked = sndUna; }

    public long Update(uint sndUna, uint sndNxt, ReadOnlySpan<TcpSackBlock> blocks)
    {
        long before = SackedBytes;
        LastUpdateHadDsack = false;
        for (int i = _blocks.Count - 1; i >= 0; i--)
        {
            var b = _blocks[i];
            if (SeqNum.Le(b.Right, sndUna)) _blocks.RemoveAt(i);
            else if (SeqNum.Lt(b.Left, sndUna)) _blocks[i] = new TcpSackBlock(sndUna, b.Right);
        }
        foreach (var nb in blocks)
        {
            if (SeqNum.Le(nb.Right, sndUna)) { LastUpdateHadDsack = true; continue; }
            if (!SeqNum.Lt(nb.Left, nb.Right) || SeqNum.Le(nb.Left, sndUna) || SeqNum.Gt(nb.Right, sndNxt)) continue;
            uint l = nb.Left, r = nb.Right;
            int j = 0;
            while (j < _blocks.Count && SeqNum.Lt(_blocks[j].Right, l)) j++;
            while (j < _blocks.Count && SeqNum.Le(_blocks[j].Left, r))
            {
                l = SeqNum.Min(l, _blocks[j].Left);
                r = SeqNum.Max(r, _blocks[j].Right);
                _blocks.RemoveAt(j);
            }
            _blocks.Insert(j, new TcpSackBlock(l, r));
            if (SeqNum.Gt(r, HighestSacked)) HighestSacked = r;
        }
        return SackedBytes - before;
    }

    public bool IsSacked(uint seq)
    {
        foreach (var b in _blocks) if (SeqNum.Ge(seq, b.Left) && SeqNum.Lt(seq, b.Right)) return true;
        return false;
    }

    public bool IsLost(uint seq, int mss)
    {
        long above = 0; int count = 0;
        foreach (var b in _blocks)
            if (SeqNum.Gt(b.Right, seq)) { above += b.Right - SeqNum.Max(b.Left, seq + 1); count++; }
        return above >= 3L * mss || count >= 3;
    }

    public long Pipe(uint sndUna, uint sndNxt, uint highRxt, int mss)
    {
        long pipe = 0;
        uint s = sndUna;
        while (SeqNum.Lt(s, sndNxt))
        {
            uint e = s + (uint)Math.Min(mss, (int)(sndNxt - s));
            if (!IsSacked(s))
            {
                if (!IsLost(s, mss)) pipe += e - s;
                if (SeqNum.Lt(s, highRxt)) pipe += e - s;
            }
            s = e;
        }
        return pipe;
    }

    public bool NextSeg(uint sndUna, uint sndNxt, uint highRxt, int mss, out uint seq, out int len)
    {
        uint s = SeqNum.Max(sndUna, highRxt);
        while (SeqNum.Lt(s, HighestSacked) && SeqNum.Lt(s, sndNxt))
        {
            int n = Math.Min(mss, (int)(sndNxt - s));
            if (!IsSacked(s) && IsLost(s, mss))
            {
                uint e = s;
                while (SeqNum.Lt(e, s + (uint)n) && !IsSacked(e)) e++;
                seq = s; len = (int)(e - s);
                return true;
            }
            s += (uint)n;
            foreach (var b in _blocks) if (SeqNum.Ge(s, b.Left) && SeqNum.Lt(s, b.Right)) { s = b.Right; break; }
        }
        seq = 0; len = 0;
        return false;
    }
}

internal sealed class TcpOutOfOrderQueue
{
    private readonly List<(uint Seq, SkBuff Skb, long Order)> _q = new(64);
    private long _order;
    public long Bytes { get; private set; }
    public int Count => _q.Count;
    public long DuplicateBytes { get; private set; }

    public void Insert(uint seq, SkBuff skb)
    {
        uint end = seq + (uint)skb.Len;
        foreach (var e in _q)
        {
            uint ee = e.Seq + (uint)e.Skb.Len;
            if (SeqNum.Le(e.Seq, seq) && SeqNum.Ge(ee, end)) { DuplicateBytes += skb.Len; skb.Free(); return; }
        }
        for (int i = _q.Count - 1; i >= 0; i--)
        {
            var e = _q[i];
            uint ee = e.Seq + (uint)e.Skb.Len;
            if (SeqNum.Ge(e.Seq, seq) && SeqNum.Le(ee, end)) { Bytes -= e.Skb.Len; DuplicateBytes += e.Skb.Len; e.Skb.Free(); _q.RemoveAt(i); }
        }
        int at = 0;
        while (at < _q.Count && SeqNum.Lt(_q[at].Seq, seq)) at++;
        _q.Insert(at, (seq, skb, ++_order));
        Bytes += skb.Len;
    }

    public bool TryTakeInOrder(uint rcvNxt, out uint seq, out SkBuff skb)
    {
        while (_q.Count > 0 && SeqNum.Le(_q[0].Seq, rcvNxt))
        {
            var e = _q[0];
            _q.RemoveAt(0);
            Bytes -= e.Skb.Len;
            uint end = e.Seq + (uint)e.Skb.Len;
            if (SeqNum.Le(end, rcvNxt)) { DuplicateBytes += e.Skb.Len; e.Skb.Free(); continue; }
            int cut = (int)(rcvNxt - e.Seq);
            if (cut > 0 && !TcpSkb.PullFront(e.Skb, cut)) { e.Skb.Free(); continue; }
            seq = rcvNxt; skb = e.Skb;
            return true;
        }
        seq = 0; skb = null!;
        return false;
    }

    public int FillSackBlocks(Span<TcpSackBlock> into, int max)
    {
        // Merge contiguous entries into blocks; the block with the newest segment first.
        Span<TcpSackBlock> all = stackalloc TcpSackBlock[64];
        Span<long> newest = stackalloc long[64];
        int n = 0;
        foreach (var e in _q)
        {
            uint end = e.Seq + (uint)e.Skb.Len;
            if (n > 0 && SeqNum.Ge(all[n - 1].Right, e.Seq))
            {
                all[n - 1] = new TcpSackBlock(all[n - 1].Left, SeqNum.Max(all[n - 1].Right, end));
                newest[n - 1] = Math.Max(newest[n - 1], e.Order);
            }
            else if (n < 64) { all[n] = new TcpSackBlock(e.Seq, end); newest[n] = e.Order; n++; }
        }
        int k = 0;
        max = Math.Min(max, into.Length);
        while (k < max && k < n)
        {
            int best = -1;
            for (int i = 0; i < n; i++) if (newest[i] >= 0 && (best < 0 || newest[i] > newest[best])) best = i;
            into[k++] = all[best];
            newest[best] = -1;
        }
        return k;
    }

    public void Purge()
    {
        foreach (var e in _q) e.Skb.Free();
        _q.Clear();
        Bytes = 0;
    }
}
