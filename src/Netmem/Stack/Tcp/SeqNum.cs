using System.Runtime.CompilerServices;

namespace Netmem.Stack.Tcp;

/// <summary>
/// TCP sequence number arithmetic (RFC 9293 3.4, RFC 1982 serial numbers; the kernel's <c>before</c>/<c>after</c>):
/// 32-bit numbers compared by the sign of their difference, so comparisons stay right across 2^32
/// wraparound as long as the two numbers are less than 2^31 apart.
/// </summary>
public static class SeqNum
{
    /// <summary><c>before(a, b)</c>: a &lt; b.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Lt(uint a, uint b) => (int)(a - b) < 0;

    /// <summary>a ≤ b.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Le(uint a, uint b) => (int)(a - b) <= 0;

    /// <summary><c>after(a, b)</c>: a &gt; b.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Gt(uint a, uint b) => (int)(a - b) > 0;

    /// <summary>a ≥ b.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool Ge(uint a, uint b) => (int)(a - b) >= 0;

    /// <summary>The later of two sequence numbers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Max(uint a, uint b) => Gt(a, b) ? a : b;

    /// <summary>The earlier of two sequence numbers.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static uint Min(uint a, uint b) => Lt(a, b) ? a : b;

    /// <summary>
    /// Whether <paramref name="seq"/> lies in the window [<paramref name="start"/>, <paramref name="start"/> + <paramref name="len"/>)
    /// (RFC 9293's <c>RCV.NXT =&lt; SEG.SEQ &lt; RCV.NXT+RCV.WND</c>); an empty window holds nothing.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool InWindow(uint seq, uint start, uint len) => seq - start < len;

    /// <summary><see cref="InWindow(uint, uint, uint)"/> for a window length held in an int (negative is empty).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool InWindow(uint seq, uint start, int len) => len > 0 && seq - start < (uint)len;

    /// <summary>Bytes from <paramref name="from"/> up to <paramref name="to"/> (negative when <paramref name="to"/> is before).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Diff(uint to, uint from) => (int)(to - from);
}
