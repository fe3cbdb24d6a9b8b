namespace Netmem.Skb;

/// <summary>
/// Walks an skb's bytes as spans, without copying or allocating: the linear data, each frag, then
/// each frag_list skb's data and frags. Obtained from <see cref="SkBuff.ReadableSpans"/>, which has
/// already refused unreadable skbs. Empty pieces are skipped. Valid while the skb is not changed.
/// </summary>
public ref struct SkbSpanEnumerator
{
    private readonly SkBuff _root;
    private SkBuff? _skb;
    private int _index; // -1: the linear data; 0..: frags
    private ReadOnlySpan<byte> _current;

    internal SkbSpanEnumerator(SkBuff root)
    {
        _root = root;
        _skb = root;
        _index = -1;
        _current = default;
    }

    public readonly SkbSpanEnumerator GetEnumerator() => this;

    public readonly ReadOnlySpan<byte> Current => _current;

    public bool MoveNext()
    {
        while (_skb is not null)
        {
            var skb = _skb;
            if (_index < 0)
            {
                _index = 0;
                if (skb.HeadLen > 0)
                {
                    _current = skb.Data;
                    return true;
                }
                continue;
            }
            var sh = skb.Shinfo;
            if (_index < sh.NrFragsField)
            {
                ref var f = ref sh.FragArray[_index++];
                if (f.Size == 0) continue;
                _current = f.GetSpan();
                return true;
            }
            _skb = ReferenceEquals(skb, _root) ? sh.FragList : skb.Next;
            _index = -1;
        }
        _current = default;
        return false;
    }
}
