using Netmem.Memory;

namespace Netmem.Skb;

// Zero-copy readable views for the layers above.
public sealed partial class SkBuff
{
    /// <summary>
    /// The data as readable pieces: the head's data, then each frag, with no copy and no allocation
    /// (<c>foreach (ReadOnlySpan&lt;byte&gt; piece in skb.Segments())</c>). Throws for an unreadable skb;
    /// <see cref="Data"/> still gives the readable head.
    /// </summary>
    public SegmentEnumerable Segments()
    {
        CheckLive();
        if (Unreadable) throw new NetmemException($"readable view of {this}: its payload is in device memory the CPU may not read");
        return new SegmentEnumerable(this, 0, Len);
    }

    public readonly ref struct SegmentEnumerable(SkBuff skb, int offset, int length)
    {
        public SegmentEnumerator GetEnumerator() => new(skb, offset, length);
    }

    /// <summary>Pieces of [offset, offset+length) of the data; the caller has checked readability.</summary>
    private SegmentEnumerable Range(int offset, int length) => new(this, offset, length);

    /// <summary>Walks the head's data, then the frags, yielding the part of each inside the range.</summary>
    public ref struct SegmentEnumerator
    {
        private readonly SkBuff _skb;
        private int _index;      // -1: head; 0..n-1: frags
        private int _pos;        // data offset where the current piece starts
        private int _offset, _remaining;
        private ReadOnlySpan<byte> _current;

        internal SegmentEnumerator(SkBuff skb, int offset, int length)
        {
            _skb = skb;
            _index = -2;
            _pos = 0;
            _offset = offset;
            _remaining = length;
            _current = default;
        }

        public readonly ReadOnlySpan<byte> Current => _current;

        public bool MoveNext()
        {
            while (_remaining > 0)
            {
                _index++;
                int size;
                if (_index == -1) size = _skb.HeadLen;
                else if (_index < _skb.Shinfo.NrFrags) size = _skb.Shinfo.Frags[_index].Size;
                else return false;
                int start = _pos;
                _pos += size;
                if (_offset >= _pos) continue;
                int inPiece = _offset - start;
                int n = Math.Min(_remaining, size - inPiece);
                _current = _index == -1
                    ? _skb.HeadSpan(_skb._data + inPiece, n)
                    : _skb.Shinfo.Frags[_index].Netmem.GetSpan(_skb.Shinfo.Frags[_index].Offset + inPiece, n);
                _offset += n;
                _remaining -= n;
                return true;
            }
            return false;
        }
    }

    /// <summary>
    /// <c>skb_linearize</c>: gathers all payload into the linear head (a bigger head from the head pool
    /// when needed). Refuses an unreadable skb; returns false when the data does not fit one head buffer.
    /// </summary>
    public bool Linearize()
    {
        CheckLive();
        if (DataLen == 0) return true;
        if (Unreadable) throw new NetmemException($"skb_linearize on {this}: its payload is in device memory the CPU may not read");
        if (Cloned) throw new InvalidOperationException($"skb_linearize on {this}: its data is shared with a clone");
        if (Shinfo.HeadSize - _tail >= DataLen) return PullTail(DataLen);
        int need = _data + Len;
        int max = PageArena.PageSize << Cache.HeadPool.Params.Order;
        if (need > max) return false;
        int size = need;
        var newHead = Cache.HeadPool.AllocNetmem(ref size, out int offset);
        if (newHead.IsNull) return false;
        var dst = newHead.GetSpan(offset, size);
        HeadSpan(0, _data + HeadLen).CopyTo(dst);       // headroom and head data keep their offsets
        CopyBits(HeadLen, dst.Slice(_data + HeadLen, DataLen));
        DropFragsFrom(0);
        var old = Shinfo.HeadNetmem;
        if (!Pool.PagePool.NapiPpPutPage(old)) old.Put();
        Truesize += size - Shinfo.HeadSize;
        Shinfo.HeadNetmem = newHead;
        Shinfo.HeadOffset = offset;
        Shinfo.HeadSize = size;
        _tail = _data + Len;
        DataLen = 0;
        Unreadable = false;
        return true;
    }
}
