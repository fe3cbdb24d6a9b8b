using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Netmem.Wire;

/// <summary>
/// The TCP options this stack uses, parsed from or emitted into the options area of a header, with no
/// heap allocation: fixed fields and the SACK blocks in an inline array of four (the most that fit in
/// 40 bytes). Like the kernel's <c>tcp_parse_options</c>, parsing does not look at the SYN flag: the
/// caller decides which options a segment may carry (MSS and window scale count only on a SYN) and
/// clamps the window scale to 14. Unlike the kernel, which stops quietly at a malformed option, a
/// length that is impossible for its kind or runs past the area is <see cref="ParseResult.BadOption"/>.
/// </summary>
public struct TcpOptions : IEquatable<TcpOptions>
{
    /// <summary>The options area is at most 40 bytes (data offset 15).</summary>
    public const int MaxLength = 40;
    public const int MaxSackBlocks = 4;

    internal const byte KindEnd = 0;
    internal const byte KindNop = 1;
    internal const byte KindMss = 2;
    internal const byte KindWindowScale = 3;
    internal const byte KindSackPermitted = 4;
    internal const byte KindSack = 5;
    internal const byte KindTimestamp = 8;
    internal const byte KindFastOpen = 34;
    /// <summary>The experimental option (RFC 6994) Fast Open used before kind 34: kind 254, then the magic 0xF989.</summary>
    internal const byte KindExperimental = 254;
    internal const ushort FastOpenMagic = 0xF989;
    /// <summary>The longest TCP Fast Open cookie (RFC 7413 4.1.1: 4 to 16 bytes, even).</summary>
    public const int MaxFastOpenCookie = 16;

    private const int SackBlockLength = 8;

    [InlineArray(MaxSackBlocks)]
    private struct SackBlockArray
    {
        private TcpSackBlock _element;
    }

    private SackBlockArray _sackBlocks;
    private byte _sackBlockCount;

    [InlineArray(MaxFastOpenCookie)]
    private struct CookieArray
    {
        private byte _element;
    }

    private CookieArray _fastOpenCookie;
    private byte _fastOpen; // 0: no Fast Open option; 1 + the cookie's length otherwise (1: a cookie request)
    private bool _fastOpenExp; // the option is the experimental form (kind 254, magic 0xF989)

    /// <summary>MSS option (kind 2), or null when absent.</summary>
    public ushort? MaxSegmentSize { get; set; }
    /// <summary>Window scale shift count (kind 3), as received (not clamped), or null when absent.</summary>
    public byte? WindowScale { get; set; }
    /// <summary>SACK-permitted (kind 4).</summary>
    public bool SackPermitted { get; set; }
    /// <summary>Timestamps (kind 8), or null when absent.</summary>
    public TcpTimestamp? Timestamp { get; set; }

    /// <summary>Number of SACK blocks (kind 5), 0..4.</summary>
    public readonly int SackBlockCount => _sackBlockCount;

    public readonly TcpSackBlock GetSackBlock(int index)
    {
        if ((uint)index >= _sackBlockCount) throw new ArgumentOutOfRangeException(nameof(index), index, $"there are {_sackBlockCount} SACK blocks");
        return _sackBlocks[index];
    }

    /// <summary>Appends a SACK block; throws when four are already there.</summary>
    public void AddSackBlock(TcpSackBlock block)
    {
        if (_sackBlockCount == MaxSackBlocks) throw new InvalidOperationException($"a TCP header holds at most {MaxSackBlocks} SACK blocks");
        _sackBlocks[_sackBlockCount++] = block;
    }

    public void ClearSackBlocks() => _sackBlockCount = 0;

    /// <summary>Whether the Fast Open option (kind 34, RFC 7413) is there, with a cookie or empty (a cookie request).</summary>
    public readonly bool HasFastOpen => _fastOpen != 0;
    /// <summary>The Fast Open cookie's length: 0 for a cookie request (or no option).</summary>
    public readonly int FastOpenCookieLength => Math.Max(0, _fastOpen - 1);

    /// <summary>Copies the Fast Open cookie into <paramref name="into"/>; returns its length.</summary>
    public readonly int CopyFastOpenCookie(Span<byte> into)
    {
        int n = FastOpenCookieLength;
        for (int i = 0; i < n; i++) into[i] = _fastOpenCookie[i];
        return n;
    }

    /// <summary>Sets the Fast Open option, in the experimental form (kind 254, "FOEXP") when <paramref name="experimental"/>.</summary>
    public void SetFastOpen(ReadOnlySpan<byte> cookie, bool experimental)
    {
        SetFastOpen(cookie);
        _fastOpenExp = experimental;
    }

    /// <summary>Whether the Fast Open option is the experimental form (kind 254 with magic 0xF989, "FOEXP").</summary>
    public readonly bool FastOpenExperimental => _fastOpen != 0 && _fastOpenExp;

    /// <summary>Sets the RFC 7413 Fast Open option (kind 34): <paramref name="cookie"/> empty for a cookie request, else 4 to 16 bytes, even.</summary>
    public void SetFastOpen(ReadOnlySpan<byte> cookie)
    {
        _fastOpenExp = false;
        if (cookie.Length != 0 && (cookie.Length < 4 || cookie.Length > MaxFastOpenCookie || cookie.Length % 2 != 0))
            throw new ArgumentException($"a Fast Open cookie is 4 to {MaxFastOpenCookie} bytes, even; got {cookie.Length}", nameof(cookie));
        for (int i = 0; i < cookie.Length; i++) _fastOpenCookie[i] = cookie[i];
        _fastOpen = (byte)(1 + cookie.Length);
    }

    /// <summary>No option present.</summary>
    public readonly bool IsEmpty => MaxSegmentSize is null && WindowScale is null && !SackPermitted && Timestamp is null && _sackBlockCount == 0 && _fastOpen == 0;

    /// <summary>
    /// Parses an options area (the header bytes after the first 20). NOP is skipped, EOL ends the list
    /// (the rest is padding), unknown kinds are skipped by their length. A later copy of an option
    /// replaces an earlier one.
    /// </summary>
    public static ParseResult Parse(ReadOnlySpan<byte> area, out TcpOptions options)
    {
        options = default;
        int i = 0;
        while (i < area.Length)
        {
            byte kind = area[i];
            if (kind == KindEnd) break;
            if (kind == KindNop)
            {
                i++;
                continue;
            }
            if (i + 1 >= area.Length) return ParseResult.BadOption;
            int length = area[i + 1];
            if (length < 2 || i + length > area.Length) return ParseResult.BadOption;
            var body = area.Slice(i + 2, length - 2);
            switch (kind)
            {
                case KindMss:
                    if (length != 4) return ParseResult.BadOption;
                    options.MaxSegmentSize = BinaryPrimitives.ReadUInt16BigEndian(body);
                    break;
                case KindWindowScale:
                    if (length != 3) return ParseResult.BadOption;
                    options.WindowScale = body[0];
                    break;
                case KindSackPermitted:
                    if (length != 2) return ParseResult.BadOption;
                    options.SackPermitted = true;
                    break;
                case KindSack:
                    int blocks = body.Length / SackBlockLength;
                    if (body.Length % SackBlockLength != 0 || blocks is 0 or > MaxSackBlocks) return ParseResult.BadOption;
                    options._sackBlockCount = 0;
                    for (int b = 0; b < blocks; b++)
                    {
                        var block = body.Slice(b * SackBlockLength, SackBlockLength);
                        options.AddSackBlock(new TcpSackBlock(BinaryPrimitives.ReadUInt32BigEndian(block), BinaryPrimitives.ReadUInt32BigEndian(block[4..])));
                    }
                    break;
                case KindTimestamp:
                    if (length != 10) return ParseResult.BadOption;
                    options.Timestamp = new TcpTimestamp(BinaryPrimitives.ReadUInt32BigEndian(body), BinaryPrimitives.ReadUInt32BigEndian(body[4..]));
                    break;
                case KindFastOpen:
                    // A malformed cookie is ignored, as Linux does (tcp_parse_fastopen_option), not a bad segment.
                    if (body.Length == 0 || (body.Length >= 4 && body.Length <= MaxFastOpenCookie && body.Length % 2 == 0)) options.SetFastOpen(body, experimental: false);
                    break;
                case KindExperimental:
                    // Only Fast Open's magic is known; other experiments are skipped as Linux skips them.
                    if (body.Length >= 2 && BinaryPrimitives.ReadUInt16BigEndian(body) == FastOpenMagic)
                    {
                        var c = body[2..];
                        if (c.Length == 0 || (c.Length >= 4 && c.Length <= MaxFastOpenCookie && c.Length % 2 == 0)) options.SetFastOpen(c, experimental: true);
                    }
                    break;
            }
            i += length;
        }
        return ParseResult.Ok;
    }

    /// <summary>Bytes <see cref="Emit"/> writes: a multiple of 4, possibly over <see cref="MaxLength"/> (which Emit refuses).</summary>
    public readonly int Length
    {
        get
        {
            int n = MaxSegmentSize is null ? 0 : 4;
            if (Timestamp is not null) n += 12;
            else if (SackPermitted) n += 4;
            if (WindowScale is not null) n += 4;
            if (_sackBlockCount != 0) n += 4 + SackBlockLength * _sackBlockCount;
            if (_fastOpen != 0) n += ((_fastOpenExp ? 4 : 2) + FastOpenCookieLength + 3) & ~3;
            return n;
        }
    }

    /// <summary>
    /// Writes the options in the order and packing Linux uses (MSS; SACK-permitted sharing a word with
    /// timestamps, or NOP NOP SACK-permitted; NOP window scale; NOP NOP SACK), so every option is
    /// 4-byte aligned and the area needs no padding. Returns the bytes written, <see cref="Length"/>.
    /// </summary>
    public readonly int Emit(Span<byte> area)
    {
        int length = Length;
        if (length > MaxLength) throw new InvalidOperationException($"TCP options need {length} bytes, more than the {MaxLength} a header holds");
        if (area.Length < length) throw new ArgumentException($"TCP options need {length} bytes, got {area.Length}", nameof(area));
        int i = 0;
        if (MaxSegmentSize is { } mss)
        {
            area[i] = KindMss;
            area[i + 1] = 4;
            BinaryPrimitives.WriteUInt16BigEndian(area[(i + 2)..], mss);
            i += 4;
        }
        if (Timestamp is { } ts)
        {
            if (SackPermitted)
            {
                area[i] = KindSackPermitted;
                area[i + 1] = 2;
            }
            else
            {
                area[i] = KindNop;
                area[i + 1] = KindNop;
            }
            area[i + 2] = KindTimestamp;
            area[i + 3] = 10;
            BinaryPrimitives.WriteUInt32BigEndian(area[(i + 4)..], ts.Value);
            BinaryPrimitives.WriteUInt32BigEndian(area[(i + 8)..], ts.EchoReply);
            i += 12;
        }
        else if (SackPermitted)
        {
            area[i] = KindNop;
            area[i + 1] = KindNop;
            area[i + 2] = KindSackPermitted;
            area[i + 3] = 2;
            i += 4;
        }
        if (WindowScale is { } ws)
        {
            area[i] = KindNop;
            area[i + 1] = KindWindowScale;
            area[i + 2] = 3;
            area[i + 3] = ws;
            i += 4;
        }
        if (_sackBlockCount != 0)
        {
            area[i] = KindNop;
            area[i + 1] = KindNop;
            area[i + 2] = KindSack;
            area[i + 3] = (byte)(2 + SackBlockLength * _sackBlockCount);
            i += 4;
            for (int b = 0; b < _sackBlockCount; b++)
            {
                BinaryPrimitives.WriteUInt32BigEndian(area[i..], _sackBlocks[b].Left);
                BinaryPrimitives.WriteUInt32BigEndian(area[(i + 4)..], _sackBlocks[b].Right);
                i += SackBlockLength;
            }
        }
        if (_fastOpen != 0)
        {
            // Kind, length, cookie, then NOPs up to the next word (Linux: "FO abcd1234,nop,nop").
            int hdr = _fastOpenExp ? 4 : 2;
            int len = hdr + FastOpenCookieLength;
            area[i] = _fastOpenExp ? KindExperimental : KindFastOpen;
            area[i + 1] = (byte)len;
            if (_fastOpenExp) BinaryPrimitives.WriteUInt16BigEndian(area[(i + 2)..], FastOpenMagic);
            for (int c = 0; c < FastOpenCookieLength; c++) area[i + hdr + c] = _fastOpenCookie[c];
            int padded = (len + 3) & ~3;
            for (int p = len; p < padded; p++) area[i + p] = KindNop;
            i += padded;
        }
        return i;
    }

    public readonly bool Equals(TcpOptions other)
    {
        if (MaxSegmentSize != other.MaxSegmentSize || WindowScale != other.WindowScale || SackPermitted != other.SackPermitted ||
            Timestamp != other.Timestamp || _sackBlockCount != other._sackBlockCount || _fastOpen != other._fastOpen || FastOpenExperimental != other.FastOpenExperimental) return false;
        for (int b = 0; b < _sackBlockCount; b++)
            if (_sackBlocks[b] != other._sackBlocks[b]) return false;
        for (int c = 0; c < FastOpenCookieLength; c++)
            if (_fastOpenCookie[c] != other._fastOpenCookie[c]) return false;
        return true;
    }

    public override readonly bool Equals(object? obj) => obj is TcpOptions o && Equals(o);

    public override readonly int GetHashCode()
    {
        var h = new HashCode();
        h.Add(MaxSegmentSize);
        h.Add(WindowScale);
        h.Add(SackPermitted);
        h.Add(Timestamp);
        h.Add(_fastOpen);
        for (int b = 0; b < _sackBlockCount; b++) h.Add(_sackBlocks[b]);
        return h.ToHashCode();
    }

    public static bool operator ==(TcpOptions a, TcpOptions b) => a.Equals(b);
    public static bool operator !=(TcpOptions a, TcpOptions b) => !a.Equals(b);

    public override readonly string ToString()
    {
        var s = new System.Text.StringBuilder("[");
        if (MaxSegmentSize is { } mss) s.Append(" mss ").Append(mss);
        if (SackPermitted) s.Append(" sackOK");
        if (Timestamp is { } ts) s.Append(" TS val ").Append(ts.Value).Append(" ecr ").Append(ts.EchoReply);
        if (WindowScale is { } ws) s.Append(" wscale ").Append(ws);
        for (int b = 0; b < _sackBlockCount; b++) s.Append(" sack ").Append(_sackBlocks[b].Left).Append(':').Append(_sackBlocks[b].Right);
        if (_fastOpen != 0)
        {
            s.Append(_fastOpenExp ? " FOEXP" : " FO");
            if (FastOpenCookieLength > 0) s.Append(' ');
            for (int c = 0; c < FastOpenCookieLength; c++) s.Append(_fastOpenCookie[c].ToString("x2"));
        }
        return s.Append(" ]").ToString();
    }
}
