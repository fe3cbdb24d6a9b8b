using System.Buffers.Binary;
using System.Runtime.CompilerServices;

namespace Netmem.Wire;

/// <summary>One SACK block: the sequence range [Left, Right) the receiver holds.</summary>
public readonly record struct SackBlock(uint Left, uint Right);

/// <summary>
/// TCP options (<c>tcp_parse_options</c>): MSS, window scale, SACK-permitted, up to four SACK blocks,
/// timestamps. No heap: SACK blocks live in an inline array. Unknown options are skipped by their
/// length; a length that is too short or runs past the options area is <see cref="WireError.BadOption"/>.
/// </summary>
public struct TcpOptions
{
    public const byte KindEol = 0, KindNop = 1, KindMss = 2, KindWindowScale = 3, KindSackPermitted = 4, KindSack = 5, KindTimestamp = 8;
    public const int MaxSackBlocks = 4;

    [InlineArray(MaxSackBlocks)]
    private struct SackArray
    {
        private SackBlock _e0;
    }

    private SackArray _sack;

    /// <summary>Maximum segment size (0 = absent).</summary>
    public ushort Mss;
    /// <summary>Window scale shift (-1 = absent; values over 14 are clamped to 14 as RFC 7323 says).</summary>
    public sbyte WindowScale;
    public bool SackPermitted;
    public bool HasTimestamp;
    public uint TsVal, TsEcr;
    public int SackCount;

    public static TcpOptions Empty => new() { WindowScale = -1 };

    public readonly SackBlock Sack(int i) => (uint)i < (uint)SackCount ? _sack[i] : throw new ArgumentOutOfRangeException(nameof(i));

    public void AddSack(SackBlock b)
    {
        if (SackCount == MaxSackBlocks) throw new InvalidOperationException($"at most {MaxSackBlocks} SACK blocks fit in the options");
        _sack[SackCount++] = b;
    }

    public static WireError Parse(ReadOnlySpan<byte> area, out TcpOptions o)
    {
        o = Empty;
        int i = 0;
        while (i < area.Length)
        {
            byte kind = area[i];
            if (kind == KindEol) break;
            if (kind == KindNop)
            {
                i++;
                continue;
            }
            if (i + 1 >= area.Length) return WireError.BadOption;
            int len = area[i + 1];
            if (len < 2 || i + len > area.Length) return WireError.BadOption;
            var v = area.Slice(i + 2, len - 2);
            switch (kind)
            {
                case KindMss:
                    if (len != 4) return WireError.BadOption;
                    o.Mss = BinaryPrimitives.ReadUInt16BigEndian(v);
                    break;
                case KindWindowScale:
                    if (len != 3) return WireError.BadOption;
                    o.WindowScale = (sbyte)Math.Min((int)v[0], 14);
                    break;
                case KindSackPermitted:
                    if (len != 2) return WireError.BadOption;
                    o.SackPermitted = true;
                    break;
                case KindSack:
                    if ((len - 2) % 8 != 0 || len == 2) return WireError.BadOption;
                    for (int k = 0; k + 8 <= v.Length && o.SackCount < MaxSackBlocks; k += 8)
                        o.AddSack(new SackBlock(BinaryPrimitives.ReadUInt32BigEndian(v[k..]), BinaryPrimitives.ReadUInt32BigEndian(v[(k + 4)..])));
                    break;
                case KindTimestamp:
                    if (len != 10) return WireError.BadOption;
                    o.HasTimestamp = true;
                    o.TsVal = BinaryPrimitives.ReadUInt32BigEndian(v);
                    o.TsEcr = BinaryPrimitives.ReadUInt32BigEndian(v[4..]);
                    break;
            }
            i += len;
        }
        return WireError.None;
    }

    /// <summary>Bytes the options take when emitted, padded to a multiple of 4.</summary>
    public readonly int Length
    {
        get
        {
            int n = (Mss != 0 ? 4 : 0) + (WindowScale >= 0 ? 3 : 0) + (SackPermitted ? 2 : 0)
                + (HasTimestamp ? 10 : 0) + (SackCount > 0 ? 2 + 8 * SackCount : 0);
            return (n + 3) & ~3;
        }
    }

    /// <summary>Writes the options (NOP-padded to <see cref="Length"/>); returns the bytes written.</summary>
    public readonly int Emit(Span<byte> b)
    {
        int total = Length;
        if (total > 40) throw new InvalidOperationException($"TCP options of {total} bytes exceed the 40-byte limit");
        if (b.Length < total) throw new ArgumentException($"the options need {total} bytes", nameof(b));
        int i = 0;
        if (Mss != 0)
        {
            b[i] = KindMss; b[i + 1] = 4;
            BinaryPrimitives.WriteUInt16BigEndian(b[(i + 2)..], Mss);
            i += 4;
        }
        if (WindowScale >= 0)
        {
            b[i] = KindWindowScale; b[i + 1] = 3; b[i + 2] = (byte)WindowScale;
            i += 3;
        }
        if (SackPermitted)
        {
            b[i] = KindSackPermitted; b[i + 1] = 2;
            i += 2;
        }
        if (HasTimestamp)
        {
            b[i] = KindTimestamp; b[i + 1] = 10;
            BinaryPrimitives.WriteUInt32BigEndian(b[(i + 2)..], TsVal);
            BinaryPrimitives.WriteUInt32BigEndian(b[(i + 6)..], TsEcr);
            i += 10;
        }
        if (SackCount > 0)
        {
            b[i] = KindSack; b[i + 1] = (byte)(2 + 8 * SackCount);
            for (int k = 0; k < SackCount; k++)
            {
                BinaryPrimitives.WriteUInt32BigEndian(b[(i + 2 + 8 * k)..], _sack[k].Left);
                BinaryPrimitives.WriteUInt32BigEndian(b[(i + 6 + 8 * k)..], _sack[k].Right);
            }
            i += 2 + 8 * SackCount;
        }
        while (i < total) b[i++] = KindNop;
        return total;
    }
}
