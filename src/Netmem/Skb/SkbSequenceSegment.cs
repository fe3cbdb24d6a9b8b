using System.Buffers;

namespace Netmem.Skb;

/// <summary>
/// One piece of an skb's <see cref="System.Buffers.ReadOnlySequence{T}"/> view: a reusable sequence
/// segment over native memory (head or frag bytes), so building the view copies no payload and, once
/// an skb object has its chain, allocates nothing.
/// </summary>
internal sealed unsafe class SkbSequenceSegment : ReadOnlySequenceSegment<byte>
{
    private readonly NativeMemory _memory = new();

    public void Set(ReadOnlySpan<byte> bytes, long runningIndex)
    {
        fixed (byte* p = bytes) _memory.Set(p, bytes.Length); // native memory: the pointer stays valid
        Memory = _memory.Memory;
        RunningIndex = runningIndex;
        Next = null;
    }

    public void Link(SkbSequenceSegment next) => Next = next;

    /// <summary>Gives a native range a Memory&lt;byte&gt; face. The range is never freed by it.</summary>
    private sealed class NativeMemory : MemoryManager<byte>
    {
        private byte* _pointer;
        private int _length;

        public void Set(byte* pointer, int length)
        {
            _pointer = pointer;
            _length = length;
        }

        public override Span<byte> GetSpan() => new(_pointer, _length);

        public override MemoryHandle Pin(int elementIndex = 0)
        {
            if ((uint)elementIndex > (uint)_length) throw new ArgumentOutOfRangeException(nameof(elementIndex));
            return new MemoryHandle(_pointer + elementIndex);
        }

        public override void Unpin() { }

        protected override void Dispose(bool disposing) { }
    }
}
