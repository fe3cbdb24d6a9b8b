using System.Diagnostics;
using Netmem.Memory;

namespace Netmem.Skb;

// Helpers that read payload or move it between frags and the head. Each one refuses a range that
// reaches the frags of an unreadable skb; inside the linear head they work on any skb.
public sealed unsafe partial class SkBuff
{
    /// <summary>Slack added to the head when a pull needs a bigger one, as the kernel does (fewer reallocations).</summary>
    private const int PullTailSlack = 128;

    /// <summary>
    /// <c>skb_copy_bits</c>: copies <c>to.Length</c> bytes starting <paramref name="offset"/> bytes into
    /// the data (head, then frags, then frag_list) into <paramref name="to"/>.
    /// </summary>
    public void CopyBits(int offset, Span<byte> to)
    {
        _ = Shinfo;
        CheckRange(offset, to.Length, "skb_copy_bits");
        CopyBitsCore(offset, to, "skb_copy_bits");
    }

    /// <summary>
    /// <c>skb_header_pointer</c>: the <paramref name="length"/> bytes at <paramref name="offset"/>: a view
    /// of the head when they are linear, otherwise a copy into <paramref name="buffer"/> (refused for
    /// an unreadable skb). Null-equivalent (empty) when the skb is too short.
    /// </summary>
    public ReadOnlySpan<byte> HeaderPointer(int offset, int length, Span<byte> buffer)
    {
        _ = Shinfo;
        if (offset < 0 || length < 0 || offset > LenField - length) return default;
        if (offset + length <= HeadLen) return new ReadOnlySpan<byte>(HeadPtr + DataOff + offset, length);
        if (buffer.Length < length) throw new ArgumentException($"buffer of {buffer.Length} bytes for a {length}-byte header", nameof(buffer));
        CopyBitsCore(offset, buffer[..length], "skb_header_pointer");
        return buffer[..length];
    }

    internal void CopyBitsCore(int offset, Span<byte> to, string op)
    {
        if (to.IsEmpty) return;
        int origOffset = offset, origLength = to.Length;
        int headlen = HeadLen;
        int copy = headlen - offset;
        if (copy > 0)
        {
            if (copy > to.Length) copy = to.Length;
            new ReadOnlySpan<byte>(HeadPtr + DataOff + offset, copy).CopyTo(to);
            to = to[copy..];
            offset += copy;
            if (to.IsEmpty) return;
        }
        if (Unreadable) ThrowUnreadable(op, origOffset, origLength);
        var sh = ShinfoField!;
        int start = headlen;
        for (int i = 0; i < sh.NrFragsField; i++)
        {
            ref var f = ref sh.FragArray[i];
            int end = start + f.Size;
            if (offset < end)
            {
                int n = Math.Min(end - offset, to.Length);
                f.Netmem.GetSpan(f.Offset + (offset - start), n).CopyTo(to);
                to = to[n..];
                offset += n;
                if (to.IsEmpty) return;
            }
            start = end;
        }
        for (var m = sh.FragList; m is not null; m = m.Next)
        {
            int end = start + m.LenField;
            if (offset < end)
            {
                int n = Math.Min(end - offset, to.Length);
                m.CopyBitsCore(offset - start, to[..n], op);
                to = to[n..];
                offset += n;
                if (to.IsEmpty) return;
            }
            start = end;
        }
        throw new NetmemException($"{op}: {this} has fewer bytes than len says (corrupt lengths)");
    }

    /// <summary>
    /// <c>skb_checksum</c>: adds the ones-complement sum of <paramref name="length"/> bytes from
    /// <paramref name="offset"/> (head, frags, frag_list) to <paramref name="csum"/>, combining the pieces
    /// with <see cref="InetChecksum.BlockAdd"/> so odd-sized pieces count right.
    /// </summary>
    public uint Checksum(int offset, int length, uint csum = 0)
    {
        _ = Shinfo;
        CheckRange(offset, length, "skb_checksum");
        return ChecksumCore(offset, length, csum);
    }

    private uint ChecksumCore(int offset, int length, uint csum)
    {
        if (length == 0) return csum;
        int origOffset = offset, origLength = length;
        int pos = 0; // bytes of the range summed so far
        int headlen = HeadLen;
        int copy = headlen - offset;
        if (copy > 0)
        {
            if (copy > length) copy = length;
            csum = InetChecksum.Partial(new ReadOnlySpan<byte>(HeadPtr + DataOff + offset, copy), csum);
            length -= copy;
            offset += copy;
            pos = copy;
            if (length == 0) return csum;
        }
        if (Unreadable) ThrowUnreadable("skb_checksum", origOffset, origLength);
        var sh = ShinfoField!;
        int start = headlen;
        for (int i = 0; i < sh.NrFragsField; i++)
        {
            ref var f = ref sh.FragArray[i];
            int end = start + f.Size;
            if (offset < end)
            {
                int n = Math.Min(end - offset, length);
                uint part = InetChecksum.Partial(f.Netmem.GetSpan(f.Offset + (offset - start), n));
                csum = InetChecksum.BlockAdd(csum, part, pos);
                length -= n;
                offset += n;
                pos += n;
                if (length == 0) return csum;
            }
            start = end;
        }
        for (var m = sh.FragList; m is not null; m = m.Next)
        {
            int end = start + m.LenField;
            if (offset < end)
            {
                int n = Math.Min(end - offset, length);
                uint part = m.ChecksumCore(offset - start, n, 0);
                csum = InetChecksum.BlockAdd(csum, part, pos);
                length -= n;
                offset += n;
                pos += n;
                if (length == 0) return csum;
            }
            start = end;
        }
        throw new NetmemException($"skb_checksum: {this} has fewer bytes than len says (corrupt lengths)");
    }

    private void CheckRange(int offset, int length, string op)
    {
        if (offset < 0 || length < 0 || offset > LenField - length)
            throw new ArgumentOutOfRangeException(nameof(offset), $"{op}: range [{offset}, {(long)offset + length}) is outside {this}");
    }

    // ---------------- head reallocation and pulls ----------------

    /// <summary>
    /// <c>pskb_expand_head</c>: moves the linear data into a new head with <paramref name="nhead"/> more
    /// bytes of headroom and <paramref name="ntail"/> more of tailroom. A cloned skb gets its own copy of
    /// the shared info: it takes a reference on every frag and frag_list skb and drops its dataref on
    /// the old data, so both sides still return each netmem once. Returns ENOMEM when no head is free.
    /// </summary>
    public Errno ExpandHead(int nhead, int ntail)
    {
        var old = Shinfo;
        ArgumentOutOfRangeException.ThrowIfNegative(nhead);
        ArgumentOutOfRangeException.ThrowIfNegative(ntail);
        if (IsShared) throw new NetmemException($"pskb_expand_head on shared {this} (users {Users}): its owners would see the data move");
        long size = (long)EndOff + nhead + ntail;
        if (size > PageArena.PageSize << PageArena.MaxOrder) return Errno.ENOMEM;
        byte* nh = Cache.AllocHead((int)size, out var netmem, out int hoff, out int bytes);
        if (nh == null) return Errno.ENOMEM;
        Buffer.MemoryCopy(HeadPtr, nh + nhead, bytes - nhead, TailOff);

        SkbSharedInfo sh;
        if (Cloned && Volatile.Read(ref old.DataRef) != 1)
        {
            sh = Cache.RentShinfo();
            sh.CopyMetaFrom(old);
            for (int i = 0; i < sh.NrFragsField; i++) sh.FragArray[i].Ref(PpRecycle);
            for (var m = sh.FragList; m is not null; m = m.Next) m.Get();
            if (Interlocked.Decrement(ref old.DataRef) == 0) Cache.ReleaseShinfo(old, PpRecycle); // the clone went away meanwhile
        }
        else
        {
            Cache.FreeHead(old.HeadNetmem);
            sh = old;
        }
        sh.SetHead(netmem, hoff, nh, bytes);
        sh.DataRef = 1;
        ShinfoField = sh;
        HeadPtr = nh;
        DataOff += nhead;
        TailOff += nhead;
        int oldEnd = EndOff;
        EndOff = bytes;
        ShiftHeaders(nhead);
        Cloned = false;
        Truesize += EndOff - oldEnd;
        return Errno.None;
    }

    /// <summary>
    /// <c>__pskb_pull_tail</c>: moves the first <paramref name="delta"/> bytes after the head (from frags,
    /// then frag_list) into the head, growing or uncloning the head first when needed. Frags used up are
    /// released, a partly used one shrinks. Refused for an unreadable skb: it would read device memory.
    /// </summary>
    public void PullTail(int delta)
    {
        var sh = Shinfo;
        if (delta < 0 || delta > DataLenField)
            throw new ArgumentOutOfRangeException(nameof(delta), $"__pskb_pull_tail of {delta} bytes on {this}, which has {DataLenField} outside the head");
        if (delta == 0) return;
        if (AnyUnreadable) ThrowUnreadable("__pskb_pull_tail", HeadLen, delta);

        int eat = TailOff + delta - EndOff;
        if (eat > 0 || IsCloned)
        {
            var err = ExpandHead(0, eat > 0 ? eat + PullTailSlack : 0);
            if (err != Errno.None) throw new NetmemErrnoException(err, $"__pskb_pull_tail: no head of {EndOff + eat + PullTailSlack} bytes for {this}");
            sh = ShinfoField!;
        }
        CopyBitsCore(HeadLen, new Span<byte>(HeadPtr + TailOff, delta), "__pskb_pull_tail");

        // Bytes that must come off the frag_list: whatever the frags do not cover.
        int fragBytes = 0;
        for (int i = 0; i < sh.NrFragsField; i++) fragBytes += sh.FragArray[i].Size;
        int listEat = delta - fragBytes;
        if (listEat > 0) EatFragList(sh, listEat);

        // Release frags used up; shrink the first one left.
        EatFrontFrags(Math.Min(delta, fragBytes));
        TailOff += delta;
        DataLenField -= delta;
    }

    /// <summary>Drops <paramref name="eat"/> bytes from the front of the frag_list (their copy is in the head now).</summary>
    /// <summary>
    /// Drops <paramref name="eat"/> bytes from the front of the frags: frags used up are unreferenced,
    /// the first one left is shortened. Lengths are the caller's to adjust.
    /// </summary>
    internal void EatFrontFrags(int eat)
    {
        var sh = ShinfoField!;
        int k = 0;
        for (int i = 0; i < sh.NrFragsField; i++)
        {
            ref var f = ref sh.FragArray[i];
            if (eat >= f.Size)
            {
                eat -= f.Size;
                f.Unref(PpRecycle);
                continue;
            }
            if (eat > 0)
            {
                f.OffAdd(eat);
                f.SizeSub(eat);
                eat = 0;
            }
            sh.FragArray[k++] = f;
        }
        ((Span<SkbFrag>)sh.FragArray)[k..sh.NrFragsField].Clear();
        sh.NrFragsField = k;
    }

    private void EatFragList(SkbSharedInfo sh, int eat) => EatFragList(sh, eat, copy: true);

    /// <summary>
    /// Drops <paramref name="eat"/> bytes from the front of the frag_list: whole members are freed, and the
    /// one that is cut is trimmed (a private clone when another parent shares it), by pulling its bytes
    /// into its head (<paramref name="copy"/>, <c>__pskb_pull_tail</c>) or without reading them
    /// (<see cref="TrimHead"/>, <c>__pskb_trim_head</c>).
    /// </summary>
    private void EatFragList(SkbSharedInfo sh, int eat, bool copy)
    {
        var m = sh.FragList;
        while (eat > 0)
        {
            if (m is null) throw new NetmemException($"frag_list of {this} is shorter than data_len says");
            if (m.LenField <= eat)
            {
                eat -= m.LenField;
                var next = m.Next;
                m.Free(); // this parent's reference; a clone's parent may keep the skb
                m = next;
                continue;
            }
            if (m.IsShared)
            {
                // Another parent holds it too: trim a private clone instead.
                var c = m.Clone();
                c.Next = m.Next;
                m.Free();
                m = c;
            }
            bool ok = copy ? m.PskbPull(eat) : TrimHead(ref m, eat);
            if (!ok) throw new NetmemException($"could not trim {eat} bytes from the front of frag_list {m}");
            eat = 0;
        }
        sh.FragList = m;
    }

    /// <summary>
    /// <c>pskb_may_pull</c>: makes the first <paramref name="len"/> bytes linear. False when the skb is
    /// shorter, or when the bytes lie in unreadable frags (the caller drops the packet: a NAPI loop must
    /// not throw on wire input).
    /// </summary>
    public bool PskbMayPull(int len)
    {
        _ = Shinfo;
        if (len <= HeadLen) return true;
        if (len > LenField || AnyUnreadable) return false;
        PullTail(len - HeadLen);
        return true;
    }

    /// <summary><c>pskb_pull</c>: <see cref="Pull"/> that first makes the bytes linear; false when the skb is shorter.</summary>
    public bool PskbPull(int len)
    {
        _ = Shinfo;
        ArgumentOutOfRangeException.ThrowIfNegative(len);
        if (len > LenField) return false;
        if (len > HeadLen) PullTail(len - HeadLen);
        return Pull(len);
    }

    /// <summary><c>skb_linearize</c>: all data into the head; frags and frag_list are released. Refused when unreadable.</summary>
    public void Linearize()
    {
        _ = Shinfo;
        if (DataLenField == 0) return;
        if (AnyUnreadable) ThrowUnreadable("skb_linearize", HeadLen, DataLenField);
        PullTail(DataLenField);
        Debug.Assert(NrFrags == 0 && !HasFragList);
    }

    /// <summary>
    /// <c>pskb_trim</c>: cuts the skb to <paramref name="len"/> bytes. Frags and frag_list skbs past the
    /// end are released and the last one kept shrinks; a cloned skb is uncloned first so its clone keeps
    /// its bytes. Touches no payload, so it works on an unreadable skb.
    /// </summary>
    public void Trim(int len)
    {
        var sh = Shinfo;
        ArgumentOutOfRangeException.ThrowIfNegative(len);
        if (len >= LenField) return;
        if (DataLenField == 0)
        {
            LenField = len;
            TailOff = DataOff + len;
            return;
        }
        if (IsCloned)
        {
            var err = ExpandHead(0, 0);
            if (err != Errno.None) throw new NetmemErrnoException(err, $"pskb_trim: could not unclone {this}");
            sh = ShinfoField!;
        }
        int headlen = HeadLen;
        int pos = headlen;
        int k = 0;
        for (; k < sh.NrFragsField && pos < len; k++)
        {
            ref var f = ref sh.FragArray[k];
            if (pos + f.Size > len) f.Size = len - pos;
            pos += f.Size;
        }
        for (int i = k; i < sh.NrFragsField; i++) sh.FragArray[i].Unref(PpRecycle);
        ((Span<SkbFrag>)sh.FragArray)[k..sh.NrFragsField].Clear();
        sh.NrFragsField = k;

        // frag_list: keep (privately) what is still inside len, free the rest.
        SkBuff? prev = null;
        var m = sh.FragList;
        while (m is not null && pos < len)
        {
            if (m.IsShared)
            {
                var c = m.Clone();
                c.Next = m.Next;
                m.Free();
                if (prev is null) sh.FragList = c; else prev.Next = c;
                m = c;
            }
            if (pos + m.LenField > len) m.Trim(len - pos);
            pos += m.LenField;
            prev = m;
            m = m.Next;
        }
        if (prev is null) sh.FragList = null; else prev.Next = null;
        SkbCache.FreeList(m);

        if (len > headlen)
        {
            DataLenField = len - headlen;
        }
        else
        {
            DataLenField = 0;
            TailOff = DataOff + len;
        }
        LenField = len;
    }
}
