namespace Netmem.Cli.Ncdevmem;

/// <summary>
/// ncdevmem's test stream for <c>-v v</c>: byte i is (i + 1) mod v, with the value 0 sent as '\n' (what
/// <c>yes $(echo -e \\x01\\x02...)</c> produces and <c>validate_buffer</c> expects: a seed that starts at
/// 1 and wraps to 0 at v). The stream repeats every v bytes, so one table of the period, repeated, gives
/// any slice of it contiguously: the client sends from it and the validator compares against it with a
/// vectorised <see cref="MemoryExtensions.SequenceEqual{T}(Span{T}, ReadOnlySpan{T})"/>.
/// </summary>
internal sealed class NcdevmemPattern
{
    /// <summary>The longest slice <see cref="Slice"/> hands out.</summary>
    public const int MaxSlice = 1 << 20;

    private readonly byte[] _table;

    /// <param name="modulus">ncdevmem's <c>-v</c>: 2 to 256 (above 255 the byte itself wraps, so 256 is the largest period).</param>
    public NcdevmemPattern(int modulus)
    {
        if (modulus < 2 || modulus > 256) throw new ArgumentOutOfRangeException(nameof(modulus), $"-v must be in [2, 256], got {modulus}");
        Modulus = modulus;
        _table = new byte[MaxSlice + modulus];
        for (int i = 0; i < _table.Length; i++) _table[i] = ByteAt(i, modulus);
    }

    public int Modulus { get; }

    /// <summary>The byte at stream offset <paramref name="offset"/> for modulus <paramref name="v"/>.</summary>
    public static byte ByteAt(long offset, int v)
    {
        int s = (int)((offset + 1) % v);
        return s == 0 ? (byte)'\n' : (byte)s;
    }

    /// <summary>The stream's bytes [<paramref name="offset"/>, +<paramref name="length"/>), at most <see cref="MaxSlice"/>.</summary>
    public ReadOnlyMemory<byte> Slice(long offset, int length)
    {
        if ((uint)length > MaxSlice) throw new ArgumentOutOfRangeException(nameof(length));
        return _table.AsMemory((int)(offset % Modulus), length);
    }

    /// <summary>Same as <see cref="Slice"/>, as a span.</summary>
    public ReadOnlySpan<byte> Span(long offset, int length) => Slice(offset, length).Span;
}
