using System.Buffers;

namespace Netmem.Skb;

// Zero-copy read views of the payload. Both refuse an unreadable skb; Data covers the readable head.
public sealed partial class SkBuff
{
    private SkbSequenceSegment[]? _segments;

    /// <summary>
    /// The payload as spans (head, frags, frag_list), for <c>foreach</c> with no allocation. Throws
    /// <see cref="Memory.NetmemException"/> when any part is unreadable; use <see cref="Data"/> for the
    /// linear head alone.
    /// </summary>
    public SkbSpanEnumerator ReadableSpans()
    {
        CheckReadable("readable spans");
        return new SkbSpanEnumerator(this);
    }

    /// <summary>
    /// The payload as a <see cref="ReadOnlySequence{T}"/> over the head and frag bytes in place (no
    /// copy). Segments belong to this sk_buff object and are reused, so the view is valid until the
    /// skb changes, is freed, or this method is called again. Throws when any part is unreadable.
    /// </summary>
    public ReadOnlySequence<byte> AsSequence()
    {
        CheckReadable("ReadOnlySequence view");
        int pieces = 0;
        foreach (var span in new SkbSpanEnumerator(this)) pieces++;
        if (pieces == 0) return ReadOnlySequence<byte>.Empty;
        if (_segments is null || _segments.Length < pieces)
        {
            var grown = new SkbSequenceSegment[Math.Max(pieces, MaxSkbFrags + 1)];
            int have = _segments?.Length ?? 0;
            if (have > 0) _segments!.CopyTo(grown, 0);
            for (int i = have; i < grown.Length; i++) grown[i] = new SkbSequenceSegment();
            _segments = grown;
        }
        long running = 0;
        int n = 0;
        foreach (var span in new SkbSpanEnumerator(this))
        {
            var seg = _segments[n];
            seg.Set(span, running);
            if (n > 0) _segments[n - 1].Link(seg);
            running += span.Length;
            n++;
        }
        var last = _segments[n - 1];
        return new ReadOnlySequence<byte>(_segments[0], 0, last, last.Memory.Length);
    }

    /// <summary>Throws unless every byte (frag_list included) is readable; nested frag_lists are not walked by the views.</summary>
    private void CheckReadable(string what)
    {
        var sh = Shinfo;
        if (Unreadable) ThrowUnreadable(what, 0, LenField);
        for (var m = sh.FragList; m is not null; m = m.Next)
        {
            if (m.Unreadable) ThrowUnreadable(what, 0, LenField);
            if (m.HasFragList) throw new NotSupportedException($"{what} of {this}: frag_list skb {m} has a frag_list of its own");
        }
    }
}
