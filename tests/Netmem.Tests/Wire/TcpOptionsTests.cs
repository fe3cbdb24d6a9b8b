using Netmem.Wire;

namespace Netmem.Tests.Wire;

public sealed class TcpOptionsTests
{
    private static ParseResult Parse(params byte[] area) => TcpOptions.Parse(area, out _);

    [Fact]
    public void Empty_area_and_padding_parse_to_no_options()
    {
        Assert.Equal(ParseResult.Ok, TcpOptions.Parse([], out var none));
        Assert.True(none.IsEmpty);
        Assert.Equal(0, none.Length);
        Assert.Equal(ParseResult.Ok, TcpOptions.Parse([1, 1, 1, 0], out var nops));
        Assert.True(nops.IsEmpty);
    }

    [Fact]
    public void End_of_list_stops_parsing_whatever_follows()
    {
        Assert.Equal(ParseResult.Ok, TcpOptions.Parse([2, 4, 5, 0xB4, 0, 2, 99, 0xFF], out var o));
        Assert.Equal((ushort)1460, o.MaxSegmentSize);
    }

    [Fact]
    public void Unknown_kinds_are_skipped_by_length()
    {
        // TCP Fast Open cookie (kind 34, 10 bytes) and MPTCP (kind 30, 4 bytes) around a window scale.
        Assert.Equal(ParseResult.Ok, TcpOptions.Parse([34, 10, 1, 2, 3, 4, 5, 6, 7, 8, 1, 3, 3, 9, 30, 4, 0, 0], out var o));
        Assert.Equal((byte)9, o.WindowScale);
        Assert.Equal(ParseResult.Ok, TcpOptions.Parse([99, 2], out var empty));
        Assert.True(empty.IsEmpty);
    }

    [Theory]
    [InlineData(new byte[] { 2 })]                           // kind with no length byte
    [InlineData(new byte[] { 1, 1, 8 })]                     // same, after NOPs
    [InlineData(new byte[] { 99, 0 })]                       // length 0 would loop forever
    [InlineData(new byte[] { 99, 1 })]                       // length 1 cannot cover kind and length
    [InlineData(new byte[] { 99, 5, 0, 0 })]                 // runs past the area
    [InlineData(new byte[] { 2, 3, 5 })]                     // MSS must be 4
    [InlineData(new byte[] { 2, 5, 5, 0xB4, 0 })]
    [InlineData(new byte[] { 3, 4, 7, 0 })]                  // window scale must be 3
    [InlineData(new byte[] { 4, 3, 0 })]                     // SACK-permitted must be 2
    [InlineData(new byte[] { 8, 8, 0, 0, 0, 1, 0, 0 })]      // timestamps must be 10
    [InlineData(new byte[] { 5, 2 })]                        // SACK with no block
    [InlineData(new byte[] { 5, 9, 0, 0, 0, 1, 0, 0, 0 })]   // SACK not a whole block
    public void Malformed_lengths_are_bad_options(byte[] area) => Assert.Equal(ParseResult.BadOption, Parse(area));

    [Fact]
    public void Five_sack_blocks_are_refused_even_in_a_large_area()
    {
        var area = new byte[2 + 40];
        area[0] = 5;
        area[1] = 42;
        Assert.Equal(ParseResult.BadOption, TcpOptions.Parse(area, out _));
    }

    [Fact]
    public void Four_sack_blocks_without_timestamps_fill_36_bytes()
    {
        var o = new TcpOptions();
        for (uint i = 0; i < 4; i++) o.AddSackBlock(new(i * 100, i * 100 + 50));
        Assert.Throws<InvalidOperationException>(() => o.AddSackBlock(new(1, 2)));
        Assert.Equal(36, o.Length);
        var area = new byte[40];
        Assert.Equal(36, o.Emit(area));
        Assert.Equal(new byte[] { 1, 1, 5, 34 }, area[..4]);
        Assert.Equal(ParseResult.Ok, TcpOptions.Parse(area, out var back));
        Assert.Equal(o, back);
        Assert.Equal(o.GetHashCode(), back.GetHashCode());
        o.ClearSackBlocks();
        Assert.True(o.IsEmpty);
        Assert.NotEqual(o, back);
    }

    [Fact]
    public void Emit_uses_the_linux_layout()
    {
        var syn = new TcpOptions { MaxSegmentSize = 1460, SackPermitted = true, Timestamp = new(0x01020304, 0), WindowScale = 7 };
        var area = new byte[syn.Length];
        syn.Emit(area);
        Assert.Equal(Convert.FromHexString("020405b40402080a01020304000000000103030" + "7"), area);

        var noTs = new TcpOptions { MaxSegmentSize = 536, SackPermitted = true };
        area = new byte[noTs.Length];
        noTs.Emit(area);
        Assert.Equal(Convert.FromHexString("0204021801010402"), area);
    }

    [Fact]
    public void Later_copy_of_an_option_wins()
    {
        Assert.Equal(ParseResult.Ok, TcpOptions.Parse([2, 4, 0, 100, 2, 4, 0, 200], out var o));
        Assert.Equal((ushort)200, o.MaxSegmentSize);
        Assert.Equal(ParseResult.Ok, TcpOptions.Parse([5, 10, 0, 0, 0, 1, 0, 0, 0, 2, 5, 10, 0, 0, 0, 3, 0, 0, 0, 4], out var s));
        Assert.Equal(1, s.SackBlockCount);
        Assert.Equal(new TcpSackBlock(3, 4), s.GetSackBlock(0));
    }

    [Fact]
    public void Emit_checks_space()
    {
        var o = new TcpOptions { Timestamp = new(1, 2) };
        Assert.Throws<ArgumentException>(() => o.Emit(new byte[11]));
        Assert.Contains("TS val 1 ecr 2", o.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void FastOpen_request_and_cookie_are_written_as_Linux_and_parsed_back()
    {
        // A cookie request after window scale: kind 34, length 2, then NOP NOP ("wscale 8,FO,nop,nop").
        var req = new TcpOptions { MaxSegmentSize = 1460, SackPermitted = true, WindowScale = 8 };
        req.SetFastOpen(default);
        var area = new byte[req.Length];
        Assert.Equal(16, req.Emit(area));
        Assert.Equal(new byte[] { 2, 4, 0x05, 0xb4, 1, 1, 4, 2, 1, 3, 3, 8, 34, 2, 1, 1 }, area);
        Assert.Equal(ParseResult.Ok, TcpOptions.Parse(area, out var back));
        Assert.Equal(req, back);
        Assert.True(back.HasFastOpen);
        Assert.Equal(0, back.FastOpenCookieLength);

        var withCookie = default(TcpOptions);
        withCookie.SetFastOpen([0xab, 0xcd, 0x12, 0x34]);
        area = new byte[withCookie.Length];
        withCookie.Emit(area);
        Assert.Equal(new byte[] { 34, 6, 0xab, 0xcd, 0x12, 0x34, 1, 1 }, area);
        Assert.Equal(ParseResult.Ok, TcpOptions.Parse(area, out back));
        Span<byte> cookie = stackalloc byte[16];
        Assert.Equal(4, back.CopyFastOpenCookie(cookie));
        Assert.Equal(new byte[] { 0xab, 0xcd, 0x12, 0x34 }, cookie[..4].ToArray());
        Assert.Contains("FO abcd1234", back.ToString());

        // A malformed cookie (odd, or 3 bytes) is ignored, not a bad header; the API refuses one.
        Assert.Equal(ParseResult.Ok, TcpOptions.Parse([34, 5, 1, 2, 3, 1, 1, 1], out back));
        Assert.False(back.HasFastOpen);
        Assert.Throws<ArgumentException>(() => withCookie.SetFastOpen([1, 2, 3]));
    }
}
