using System.Buffers.Binary;
using Netmem.Skb;
using Netmem.Wire;

namespace Netmem.Stack;

/// <summary>The reassembly key (<c>struct frag_v4_compare_key</c>).</summary>
internal readonly record struct IpFragKey(uint Source, uint Destination, ushort Id, byte Protocol);

/// <summary>
/// One datagram being reassembled (<c>struct ipq</c>): its fragments sorted by offset, the length once the
/// last fragment came, bytes received (<c>meat</c>), and its ipfrag_time timer on the owning context.
/// </summary>
internal sealed class IpFragQueue : IStackTimerTarget
{
    internal struct Frag
    {
        public int Offset, End;
        public SkBuff Skb;
    }

    public IpFragQueue(IpDefrag owner)
    {
        Owner = owner;
        Timer = new StackTimer(this);
    }

    public readonly IpDefrag Owner;
    public readonly StackTimer Timer;
    public IpFragKey Key;
    public Frag[] Frags = new Frag[8];
    public int Count;
    public int Len;    // datagram payload length (known once LastIn)
    public int Meat;   // payload bytes queued
    public bool FirstIn, LastIn;
    public long Truesize;

    void IStackTimerTarget.OnTimer(StackTimer timer, int kind, long nowUs) => Owner.Expire(this);
}

/// <summary>
/// <c>ip_defrag</c> for one context: fragments of a datagram arrive on one RX queue (a NIC hashes
/// fragments on addresses only), so each context reassembles its own with no lock; the memory limit
/// (ipfrag_high_thresh) is shared by the whole stack. Overlaps kill the whole datagram (RFC 5722, as Linux
/// does for IPv4 since 4.19); exact duplicates are dropped alone. A datagram not completed in ipfrag_time
/// is freed and, when its first fragment was seen, answered with ICMP time exceeded (reassembly).
/// </summary>
internal sealed class IpDefrag
{
    private readonly NetStack _stack;
    private readonly NetInterface _iface;
    private readonly StackContext _ctx;
    private readonly Dictionary<IpFragKey, IpFragQueue> _queues = new();
    private readonly Stack<IpFragQueue> _free = new();

    public IpDefrag(NetStack stack, NetInterface iface, StackContext ctx)
    {
        _stack = stack;
        _iface = iface;
        _ctx = ctx;
    }

    public int QueueCount => _queues.Count;

    private IpStats Stats => _stack.Stats;

    /// <summary>
    /// <c>ip_defrag</c>: takes a fragment (data at its IPv4 header, trimmed to its total length). Returns the
    /// whole datagram (data at the IPv4 header, the rest in the head's frag_list) when this fragment completed
    /// it, else null (queued or dropped and counted).
    /// </summary>
    public SkBuff? Queue(SkBuff skb, Ipv4Address src, Ipv4Address dst, ushort id, IpProtocol proto, int ihl, ushort fragField)
    {
        Stats.Inc(IpMib.ReasmReqds);
        if (Interlocked.Read(ref _stack.FragMemRef) > _stack.Options.FragHighThresh)
        {
            Stats.Inc(IpMib.ReasmFails);
            _stack.Drop(skb, IpDropReason.FragMemoryLimit);
            return null;
        }
        var key = new IpFragKey(src.ToUInt32(), dst.ToUInt32(), id, (byte)proto);
        if (!_queues.TryGetValue(key, out var q))
        {
            q = _free.Count > 0 ? _free.Pop() : new IpFragQueue(this);
            q.Key = key;
            _queues.Add(key, q);
            _ctx.ArmTimer(q.Timer, _ctx.NowUs + _stack.Options.FragTimeUs);
        }

        int offset = (fragField & 0x1FFF) * 8;
        bool more = (fragField & 0x2000) != 0;
        int end = offset + skb.Len - ihl;
        if (end + ihl > 65535) { Discard(q, skb, IpDropReason.FragBadLength); return null; }
        if (!more)
        {
            // The last fragment fixes the length; data beyond it, or a second different end, is corruption.
            if (end < q.Len || (q.LastIn && end != q.Len)) { Discard(q, skb, IpDropReason.FragBadLength); return null; }
            q.LastIn = true;
            q.Len = end;
        }
        else
        {
            if ((end & 7) != 0)
            {
                end &= ~7; // non-final fragments carry multiples of 8
                if (skb.IpSummed != SkbChecksumState.Unnecessary) skb.IpSummed = SkbChecksumState.None;
            }
            if (end > q.Len)
            {
                if (q.LastIn) { Discard(q, skb, IpDropReason.FragBadLength); return null; }
                q.Len = end;
            }
        }
        if (end == offset) { Discard(q, skb, IpDropReason.FragBadLength); return null; }

        // inet_frag_queue_insert: find the place; a fragment inside a contiguous run already held is a
        // duplicate, any other intersection an overlap.
        int at = 0;
        while (at < q.Count && q.Frags[at].Offset < offset) at++;
        var check = Classify(q, offset, end, at);
        if (check == IpDropReason.FragDuplicate)
        {
            _stack.Drop(skb, IpDropReason.FragDuplicate);
            return null;
        }
        if (check == IpDropReason.FragOverlap) { Discard(q, skb, IpDropReason.FragOverlap); return null; }

        skb.Pull(ihl);
        skb.Trim(end - offset);
        if (q.Count == q.Frags.Length) Array.Resize(ref q.Frags, q.Count * 2);
        Array.Copy(q.Frags, at, q.Frags, at + 1, q.Count - at);
        q.Frags[at] = new IpFragQueue.Frag { Offset = offset, End = end, Skb = skb };
        q.Count++;
        q.Meat += end - offset;
        q.Truesize += skb.Truesize;
        Interlocked.Add(ref _stack.FragMemRef, skb.Truesize);
        if (offset == 0) q.FirstIn = true;

        if (q.FirstIn && q.LastIn && q.Meat == q.Len) return Reassemble(q, ihl);
        return null;
    }

    private static IpDropReason? Classify(IpFragQueue q, int offset, int end, int at)
    {
        // Neighbours that could intersect: the one before 'at' and those from 'at' on that start before end.
        int first = at > 0 && q.Frags[at - 1].End > offset ? at - 1 : at;
        if (first >= q.Count || q.Frags[first].Offset >= end) return null;
        // Walk the contiguous run from 'first' and see whether it covers [offset, end).
        int runStart = q.Frags[first].Offset, runEnd = q.Frags[first].End;
        for (int i = first + 1; i < q.Count && q.Frags[i].Offset == runEnd; i++) runEnd = q.Frags[i].End;
        return offset >= runStart && end <= runEnd ? IpDropReason.FragDuplicate : IpDropReason.FragOverlap;
    }

    /// <summary><c>ip_frag_reasm</c>: the first fragment becomes the head, the others its frag_list.</summary>
    private SkBuff? Reassemble(IpFragQueue q, int ihlOfLast)
    {
        var head = q.Frags[0].Skb;
        // The head's IPv4 header is still in front of its data (only pulled), so push it back.
        int ihl = head.TransportHeader - head.NetworkHeader;
        if (ihl + q.Len > 65535)
        {
            Kill(q, IpDropReason.FragBadLength);
            Stats.Inc(IpMib.ReasmFails);
            return null;
        }
        head.Push(ihl);
        SkBuff? prev = null;
        int added = 0, truesize = 0;
        for (int i = 1; i < q.Count; i++)
        {
            var f = q.Frags[i].Skb;
            f.Next = null;
            if (prev is null) head.Shinfo.FragList = f; else prev.Next = f;
            prev = f;
            if (f.AnyUnreadable) head.Unreadable = true; // the chain is unreadable if any part is: checks look at the root
            added += f.Len;
            truesize += f.Truesize;
        }
        head.LenField += added;
        head.DataLenField += added;
        head.Truesize += truesize;
        head.IpSummed = SkbChecksumState.None;
        var h = head.Data;
        BinaryPrimitives.WriteUInt16BigEndian(h[2..], (ushort)(ihl + q.Len));
        BinaryPrimitives.WriteUInt16BigEndian(h[6..], 0);
        h[10] = h[11] = 0;
        BinaryPrimitives.WriteUInt16BigEndian(h[10..], InetChecksum.Compute(h[..ihl]));
        Stats.Add(IpMib.ReasmMerged, q.Count - 1);
        Stats.Inc(IpMib.ReasmOKs);
        q.Count = 0; // the skbs now belong to the head
        Release(q);
        return head;
    }

    /// <summary>Drops <paramref name="skb"/> and kills its queue (<c>discard_qp</c>).</summary>
    private void Discard(IpFragQueue q, SkBuff skb, IpDropReason reason)
    {
        Stats.Inc(IpMib.ReasmFails);
        _stack.Drop(skb, reason);
        Kill(q, IpDropReason.FragQueueKilled);
    }

    /// <summary><c>inet_frag_kill</c> + free: every queued fragment dropped under <paramref name="reason"/>.</summary>
    private void Kill(IpFragQueue q, IpDropReason reason)
    {
        for (int i = 0; i < q.Count; i++) _stack.Drop(q.Frags[i].Skb, reason);
        q.Count = 0;
        Release(q);
    }

    private void Release(IpFragQueue q)
    {
        _ctx.CancelTimer(q.Timer);
        Interlocked.Add(ref _stack.FragMemRef, -q.Truesize);
        _queues.Remove(q.Key);
        Array.Clear(q.Frags);
        q.Count = q.Len = q.Meat = 0;
        q.FirstIn = q.LastIn = false;
        q.Truesize = 0;
        if (_free.Count < 64) _free.Push(q);
    }

    /// <summary><c>ip_expire</c>: ipfrag_time passed.</summary>
    internal void Expire(IpFragQueue q)
    {
        Stats.Inc(IpMib.ReasmFails);
        if (q.FirstIn && q.Count > 0 && q.Frags[0].Offset == 0)
        {
            var head = q.Frags[0].Skb;
            _stack.Icmp.SendError(_iface, head, Icmpv4Message.TimeExceeded, (byte)Icmpv4TimeExceeded.FragmentReassemblyTimeExceeded, 0);
        }
        Kill(q, IpDropReason.FragTimeout);
    }

    /// <summary>Frees every queue (interface going away).</summary>
    public void Flush()
    {
        var all = new List<IpFragQueue>(_queues.Values);
        foreach (var q in all) Kill(q, IpDropReason.Shutdown);
    }
}
