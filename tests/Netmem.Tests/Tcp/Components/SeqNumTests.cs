using CsCheck;
using Netmem.Stack.Tcp;

namespace Netmem.Tests.Tcp.Components;

public sealed class SeqNumTests
{
    [Fact]
    public void Comparisons_hold_across_the_2_pow_32_wrap()
    {
        const uint beforeWrap = 0xFFFF_FFF0, afterWrap = 0x0000_0010;
        Assert.True(SeqNum.Lt(beforeWrap, afterWrap));
        Assert.True(SeqNum.Le(beforeWrap, afterWrap));
        Assert.True(SeqNum.Gt(afterWrap, beforeWrap));
        Assert.True(SeqNum.Ge(afterWrap, beforeWrap));
        Assert.False(SeqNum.Gt(beforeWrap, afterWrap));
        Assert.False(SeqNum.Lt(afterWrap, beforeWrap));
        Assert.Equal(afterWrap, SeqNum.Max(beforeWrap, afterWrap));
        Assert.Equal(beforeWrap, SeqNum.Min(afterWrap, beforeWrap));
        Assert.Equal(0x20, SeqNum.Diff(afterWrap, beforeWrap));
        Assert.Equal(-0x20, SeqNum.Diff(beforeWrap, afterWrap));
    }

    [Fact]
    public void Equal_numbers_are_le_and_ge_but_not_lt_or_gt()
    {
        foreach (uint a in new uint[] { 0, 1, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF })
        {
            Assert.True(SeqNum.Le(a, a));
            Assert.True(SeqNum.Ge(a, a));
            Assert.False(SeqNum.Lt(a, a));
            Assert.False(SeqNum.Gt(a, a));
            Assert.Equal(a, SeqNum.Max(a, a));
        }
    }

    [Fact]
    public void Numbers_less_than_2_pow_31_apart_order_by_their_distance_anywhere_on_the_circle()
    {
        Gen.Select(Gen.UInt, Gen.UInt[1, 0x7FFF_FFFF]).Sample((a, d) =>
        {
            uint b = a + d; // may wrap
            Assert.True(SeqNum.Lt(a, b));
            Assert.True(SeqNum.Le(a, b));
            Assert.True(SeqNum.Gt(b, a));
            Assert.True(SeqNum.Ge(b, a));
            Assert.False(SeqNum.Lt(b, a));
            Assert.False(SeqNum.Ge(a, b));
            Assert.Equal(b, SeqNum.Max(a, b));
            Assert.Equal(a, SeqNum.Min(b, a));
            Assert.Equal((int)d, SeqNum.Diff(b, a));
        });
    }

    [Fact]
    public void InWindow_is_half_open_and_wraps()
    {
        const uint start = 0xFFFF_FF00;
        Assert.True(SeqNum.InWindow(start, start, 0x200u));
        Assert.True(SeqNum.InWindow(0xFFFF_FFFF, start, 0x200u));
        Assert.True(SeqNum.InWindow(0x0000_00FF, start, 0x200u));
        Assert.False(SeqNum.InWindow(0x0000_0100, start, 0x200u)); // start + len is outside
        Assert.False(SeqNum.InWindow(start - 1, start, 0x200u));
        Assert.False(SeqNum.InWindow(start, start, 0u));           // an empty window holds nothing
        Assert.True(SeqNum.InWindow(0x0000_00FF, start, 0x200));
        Assert.False(SeqNum.InWindow(start, start, -5));
    }
}
