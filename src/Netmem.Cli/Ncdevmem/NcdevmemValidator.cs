namespace Netmem.Cli.Ncdevmem;

/// <summary>
/// ncdevmem's <c>validate_buffer</c> over the whole stream: every piece (dmabuf frags and linear bytes
/// alike, in stream order) is compared with <see cref="NcdevmemPattern"/> at its stream offset. Each
/// mismatching byte is reported (expected, actual, stream offset) and counted; past
/// <see cref="MaxErrors"/> the run fails, as ncdevmem's "validation failed." does.
/// </summary>
internal sealed class NcdevmemValidator(NcdevmemPattern pattern, TextWriter log)
{
    /// <summary>ncdevmem exits once more than 20 bytes mismatched.</summary>
    public const int MaxErrors = 20;

    /// <summary>Stream bytes checked so far (the offset of the next piece).</summary>
    public long Offset { get; private set; }
    /// <summary>Bytes that differed from the pattern.</summary>
    public int Errors { get; private set; }
    /// <summary>More than <see cref="MaxErrors"/> mismatches: the server stops.</summary>
    public bool Failed => Errors > MaxErrors;

    /// <summary>Checks the next <paramref name="piece"/> of the stream; false once the run has failed.</summary>
    public bool Check(ReadOnlySpan<byte> piece)
    {
        while (!piece.IsEmpty)
        {
            int n = Math.Min(piece.Length, NcdevmemPattern.MaxSlice);
            var want = pattern.Span(Offset, n);
            if (!piece[..n].SequenceEqual(want)) Report(piece[..n], want);
            Offset += n;
            piece = piece[n..];
            if (Failed) return false;
        }
        return true;
    }

    private void Report(ReadOnlySpan<byte> got, ReadOnlySpan<byte> want)
    {
        for (int i = 0; i < got.Length && !Failed; i++)
        {
            if (got[i] == want[i]) continue;
            Errors++;
            log.WriteLine($"Failed validation: expected={want[i]}, actual={got[i]}, index={Offset + i}");
        }
        if (Failed) log.WriteLine("validation failed.");
    }
}
