using Netmem.Wire;

namespace Netmem.Stack.Tcp;

/// <summary>
/// The sender's SACK scoreboard (RFC 6675; in Linux the SACKED bits that <c>tcp_sacktag_write_queue</c>
/// writes on the retransmit queue): the sequence ranges the receiver reported holding above snd.una,
/// kept as a small fixed-capacity array of sorted, disjoint, non-adjacent ranges. It answers RFC 6675's
/// IsLost, SetPipe and NextSeg (rules 1 and 3) in bytes.
/// </summary>
/// <remarks>
/// <para>
/// Byte semantics: a hole (unSACKed range between snd.una and the highest SACKed byte) is lost as a whole,
/// since every byte in it has the same SACKed data above it. <c>highRxt</c> is the end (exclusive) of what
/// has been retransmitted in this recovery: bytes in [snd.una, highRxt) count as retransmitted; pass
/// snd.una when nothing has been.
/// </para>
/// <para>
/// When the array is full and a new disjoint range arrives, the range nearest snd.una is forgotten (counted in
/// <see cref="Overflows"/>): forgetting SACK information only costs a needless retransmission, never
/// correctness (RFC 2018 lets the receiver renege anyway).
/// </para>
/// </remarks>
public sealed class SackScoreboard
{
    /// <summary>Ranges kept by default.</summary>
    public const int DefaultCapacity = 64;
    /// <summary>RFC 6675's DupThresh.</summary>
    public const int DupThresh = 3;

    private readonly uint[] _left;
    private readonly uint[] _right;
    private int _count;
    private uint _una;
    private long _sacked;

    public SackScoreboard(int capacity = DefaultCapacity)
    {
        if (capacity < 1) throw new ArgumentOutOfRangeException(nameof(capacity), capacity, "the scoreboard needs room for at least one range");
        _left = new uint[capacity];
        _right = new uint[capacity];
    }

    /// <summary>How many ranges fit.</summary>
    public int Capacity => _left.Length;
    /// <summary>The ranges held now.</summary>
    public int RangeCount => _count;
    /// <summary>Range <paramref name="index"/>, lowest first.</summary>
    public TcpSackBlock GetRange(int index)
    {
        if ((uint)index >= (uint)_count) throw new ArgumentOutOfRangeException(nameof(index), index, $"the scoreboard holds {_count} ranges");
        return new TcpSackBlock(_left[index], _right[index]);
    }

    /// <summary>snd.una as of the last <see cref="Reset"/> or <see cref="Update"/>.</summary>
    public uint SndUna => _una;
    /// <summary>Bytes above snd.una the receiver holds by its SACKs.</summary>
    public long SackedBytes => _sacked;
    /// <summary>HighACK: the end (exclusive) of the highest SACKed range, snd.una when nothing is SACKed.</summary>
    public uint HighestSacked => _count == 0 ? _una : _right[_count - 1];
    /// <summary>The unSACKed ranges between snd.una and <see cref="HighestSacked"/>.</summary>
    public int HoleCount => _count == 0 ? 0 : _count - (_left[0] == _una ? 1 : 0);
    /// <summary>Whether the last <see cref="Update"/>'s first block was a D-SACK (RFC 2883).</summary>
    public bool LastUpdateHadDsack { get; private set; }
    /// <summary>The last D-SACK block seen (the duplicate range the receiver reported).</summary>
    public TcpSackBlock LastDsack { get; private set; }
    /// <summary>D-SACK blocks seen since construction.</summary>
    public long DsackCount { get; private set; }
    /// <summary>Blocks ignored because they were empty, reversed, or not inside [snd.una, snd.nxt].</summary>
    public long InvalidBlocks { get; private set; }
    /// <summary>Ranges forgotten because the array was full.</summary>
    public long Overflows { get; private set; }

    /// <summary>Forgets every SACK (a new connection, or after an RTO), with snd.una at <paramref name="sndUna"/>.</summary>
    public void Reset(uint sndUna)
    {
        _count = 0;
        _sacked = 0;
        _una = sndUna;
        LastUpdateHadDsack = false;
        LastDsack = default;
    }

    /// <summary>
    /// Takes an ACK's cumulative point and SACK blocks: ranges below <paramref name="sndUna"/> are dropped, then
    /// every block inside [snd.una, snd.nxt] is merged in. A first block below snd.una or inside another block of
    /// the same ACK is a D-SACK (RFC 2883): reported by <see cref="LastUpdateHadDsack"/>, not merged.
    /// Returns the bytes newly SACKed by this ACK.
    /// </summary>
    public long Update(uint sndUna, uint sndNxt, ReadOnlySpan<TcpSackBlock> blocks)
    {
        AdvanceUna(sndUna);
        LastUpdateHadDsack = false;
        long added = 0;
        for (int i = 0; i < blocks.Length; i++)
        {
            var b = blocks[i];
            if (i == 0 && IsDsack(b, sndUna, blocks))
            {
                LastUpdateHadDsack = true;
                LastDsack = b;
                DsackCount++;
                continue;
            }
            if (!SeqNum.Lt(b.Left, b.Right) || SeqNum.Lt(b.Left, sndUna) || SeqNum.Gt(b.Right, sndNxt))
            {
                InvalidBlocks++;
                continue;
            }
            added += Insert(b.Left, b.Right);
        }
        return added;
    }

    /// <summary>Whether the receiver reported <paramref name="seq"/>.</summary>
    public bool IsSacked(uint seq) => IndexOf(seq) >= 0;

    /// <summary>
    /// RFC 6675 IsLost: an unSACKed <paramref name="seq"/> is lost when DupThresh discontiguous SACKed ranges lie
    /// above it, or more than (DupThresh − 1)·MSS SACKed bytes do (three full segments).
    /// </summary>
    public bool IsLost(uint seq, int mss)
    {
        int i = 0;
        while (i < _count && SeqNum.Le(_right[i], seq)) i++;
        if (i < _count && SeqNum.Le(_left[i], seq)) return false; // SACKed
        return HoleLost(i, mss);
    }

    /// <summary>
    /// RFC 6675 SetPipe in bytes: every unSACKed byte in [snd.una, snd.nxt) not judged lost, plus every unSACKed
    /// byte retransmitted (below <paramref name="highRxt"/>).
    /// </summary>
    public long Pipe(uint sndUna, uint sndNxt, uint highRxt, int mss)
    {
        if (!SeqNum.Lt(sndUna, sndNxt)) return 0;
        uint rxtEnd = SeqNum.Min(SeqNum.Max(highRxt, sndUna), sndNxt);
        long pipe = 0;
        uint cursor = sndUna;
        for (int i = 0; i <= _count; i++)
        {
            uint holeEnd = i < _count ? SeqNum.Min(_left[i], sndNxt) : sndNxt;
            if (SeqNum.Lt(cursor, holeEnd))
            {
                if (i == _count || !HoleLost(i, mss)) pipe += holeEnd - cursor;
                if (SeqNum.Lt(cursor, rxtEnd)) pipe += SeqNum.Min(holeEnd, rxtEnd) - cursor;
            }
            if (i < _count)
            {
                cursor = SeqNum.Max(cursor, _right[i]);
                if (!SeqNum.Lt(cursor, sndNxt)) break;
            }
        }
        return pipe;
    }

    /// <summary>
    /// RFC 6675 NextSeg, rules 1 and 3 (rule 2, new data, is the engine's): the first lost unSACKed bytes at or
    /// above <paramref name="highRxt"/> and below <see cref="HighestSacked"/>, up to one MSS; failing that, and when
    /// <paramref name="includeUnsacked"/> (rule 3; an engine with new data to send asks without it first), the first
    /// such unSACKed bytes whether lost or not.
    /// </summary>
    public bool NextSeg(uint sndUna, uint sndNxt, uint highRxt, int mss, out uint seq, out int len, bool includeUnsacked = true)
    {
        if (mss <= 0) throw new ArgumentOutOfRangeException(nameof(mss), mss, "NextSeg needs the MSS");
        uint from = SeqNum.Max(highRxt, sndUna);
        int rule3 = -1;
        uint rule3Start = 0;
        uint cursor = sndUna;
        for (int i = 0; i < _count; i++)
        {
            uint holeEnd = SeqNum.Min(_left[i], sndNxt);
            uint start = SeqNum.Max(cursor, from);
            if (SeqNum.Lt(start, holeEnd))
            {
                if (HoleLost(i, mss))
                {
                    seq = start;
                    len = (int)Math.Min((uint)mss, holeEnd - start);
                    return true;
                }
                if (rule3 < 0)
                {
                    rule3 = i;
                    rule3Start = start;
                }
            }
            cursor = SeqNum.Max(cursor, _right[i]);
        }
        if (includeUnsacked && rule3 >= 0)
        {
            seq = rule3Start;
            len = (int)Math.Min((uint)mss, SeqNum.Min(_left[rule3], sndNxt) - rule3Start);
            return true;
        }
        seq = 0;
        len = 0;
        return false;
    }

    /// <summary>Whether the hole just below range <paramref name="above"/> is lost (the ranges from there up decide).</summary>
    private bool HoleLost(int above, int mss)
    {
        int ranges = _count - above;
        if (ranges >= DupThresh) return true;
        long bytes = 0;
        for (int j = above; j < _count; j++) bytes += _right[j] - _left[j];
        return bytes > (long)(DupThresh - 1) * mss;
    }

    private static bool IsDsack(TcpSackBlock b, uint sndUna, ReadOnlySpan<TcpSackBlock> blocks)
    {
        if (!SeqNum.Lt(b.Left, b.Right)) return false;
        if (SeqNum.Lt(b.Left, sndUna)) return true;
        for (int j = 1; j < blocks.Length; j++)
        {
            var o = blocks[j];
            if (SeqNum.Lt(o.Left, o.Right) && SeqNum.Le(o.Left, b.Left) && SeqNum.Ge(o.Right, b.Right)) return true;
        }
        return false;
    }

    private int IndexOf(uint seq)
    {
        for (int i = 0; i < _count; i++)
        {
            if (SeqNum.Lt(seq, _left[i])) return -1;
            if (SeqNum.Lt(seq, _right[i])) return i;
        }
        return -1;
    }

    private void AdvanceUna(uint sndUna)
    {
        _una = sndUna;
        int drop = 0;
        while (drop < _count && SeqNum.Le(_right[drop], sndUna))
        {
            _sacked -= _right[drop] - _left[drop];
            drop++;
        }
        if (drop > 0) RemoveRange(0, drop);
        if (_count > 0 && SeqNum.Lt(_left[0], sndUna))
        {
            _sacked -= sndUna - _left[0];
            _left[0] = sndUna;
        }
    }

    /// <summary>Merges [l, r) in; returns how many of its bytes were not SACKed before.</summary>
    private long Insert(uint l, uint r)
    {
        int i = 0;
        while (i < _count && SeqNum.Lt(_right[i], l)) i++; // first range touching or above l
        if (i == _count || SeqNum.Gt(_left[i], r))
        {
            if (_count == _left.Length)
            {
                Overflows++;
                if (i == 0) return 0; // the new range is the one nearest snd.una: forget it
                _sacked -= _right[0] - _left[0];
                RemoveRange(0, 1);
                i--;
            }
            Array.Copy(_left, i, _left, i + 1, _count - i);
            Array.Copy(_right, i, _right, i + 1, _count - i);
            _left[i] = l;
            _right[i] = r;
            _count++;
            _sacked += r - l;
            return r - l;
        }
        uint newL = SeqNum.Min(l, _left[i]);
        uint newR = r;
        long covered = 0;
        int j = i;
        while (j < _count && SeqNum.Le(_left[j], r))
        {
            newR = SeqNum.Max(newR, _right[j]);
            covered += _right[j] - _left[j];
            j++;
        }
        _left[i] = newL;
        _right[i] = newR;
        if (j - i > 1) RemoveRange(i + 1, j - i - 1);
        long added = (newR - newL) - covered;
        _sacked += added;
        return added;
    }

    private void RemoveRange(int index, int n)
    {
        Array.Copy(_left, index + n, _left, index, _count - index - n);
        Array.Copy(_right, index + n, _right, index, _count - index - n);
        _count -= n;
    }

    public override string ToString() =>
        $"sack scoreboard (una {_una}, {_count} ranges, {_sacked} bytes SACKed, highest {HighestSacked})";
}
