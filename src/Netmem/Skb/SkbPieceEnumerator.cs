using Netmem.Memory;

namespace Netmem.Skb;

/// <summary>
/// One piece of an skb's payload: the linear data of the skb <see cref="Owner"/> (<see cref="Frag"/> -1)
/// or one of its frags, as a netmem, an offset into it and a length. The netmem may be unreadable.
/// </summary>
public readonly record struct SkbPiece(SkBuff Owner, int Frag, NetmemRef Netmem, int Offset, int Length)
{
    /// <summary>Whether this piece is linear data (host memory the CPU may read, even in an unreadable skb).</summary>
    public bool IsLinear => Frag < 0;
}

/// <summary>
/// Walks the pieces covering bytes [offset, offset + length) of an skb, in stream order: its linear data,
/// its frags, then each frag_list skb's linear data and frags. Reads no payload, so it works on unreadable
/// skbs; the read actors of the TCP receive queue (copy, lease, devmem) use it to see where each byte is.
/// A frag_list skb with a frag_list of its own is not walked (<see cref="Nested"/> says so): nothing in the
/// stack builds one.
/// </summary>
public ref struct SkbPieceEnumerator
{
    private readonly SkBuff _root;
    private SkBuff? _skb;
    private int _index;  // -1: the linear data; 0..: frags
    private int _pos;    // stream position of the current skb's first byte, from the root's data
    private readonly int _start, _end;
    private SkbPiece _current;

    public SkbPieceEnumerator(SkBuff root, int offset, int length)
    {
        if (offset < 0 || length < 0 || offset > root.Len - length)
            throw new ArgumentOutOfRangeException(nameof(offset), $"pieces [{offset}, {(long)offset + length}) outside {root}");
        _root = root;
        _skb = length == 0 ? null : root;
        _index = -1;
        _pos = 0;
        _start = offset;
        _end = offset + length;
        _current = default;
        Nested = false;
    }

    /// <summary>True when the walk stopped at a frag_list skb that has a frag_list of its own.</summary>
    public bool Nested { get; private set; }

    public readonly SkbPieceEnumerator GetEnumerator() => this;

    public readonly SkbPiece Current => _current;

    public bool MoveNext()
    {
        while (_skb is not null)
        {
            var skb = _skb;
            var sh = skb.Shinfo;
            if (_index < 0)
            {
                _index = 0;
                int hl = skb.HeadLen;
                if (Clip(_pos, hl, out int from, out int n))
                {
                    var head = sh.HeadNetmem;
                    int baseOff = (int)(skb.DataAddress - head.Address);
                    _current = new SkbPiece(skb, -1, head, baseOff + from, n);
                    _pos += hl;
                    return true;
                }
                _pos += hl;
                continue;
            }
            if (_index < sh.NrFragsField)
            {
                int i = _index++;
                ref var f = ref sh.FragArray[i];
                int at = _pos;
                _pos += f.Size;
                if (Clip(at, f.Size, out int from, out int n))
                {
                    _current = new SkbPiece(skb, i, f.Netmem, f.Offset + from, n);
                    return true;
                }
                continue;
            }
            if (_pos >= _end) break;
            SkBuff? next;
            if (ReferenceEquals(skb, _root)) next = sh.FragList;
            else next = skb.Next;
            if (next is not null && !ReferenceEquals(next, _root) && next.HasFragList) { Nested = true; break; }
            _skb = next;
            _index = -1;
        }
        _skb = null;
        _current = default;
        return false;
    }

    // The part of [at, at + size) inside [_start, _end): offset into the piece and length.
    private readonly bool Clip(int at, int size, out int from, out int n)
    {
        int lo = Math.Max(at, _start), hi = Math.Min(at + size, _end);
        from = lo - at;
        n = hi - lo;
        return n > 0;
    }
}
