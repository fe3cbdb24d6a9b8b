using Netmem.Wire;

namespace Netmem.Tests.Wire;

public sealed class Ipv4AddressTests
{
    [Fact]
    public void Parses_and_formats_dotted_quads()
    {
        var a = Ipv4Address.Parse("192.0.2.1");
        Assert.Equal(0xC0000201u, a.ToUInt32());
        Assert.Equal(new Ipv4Address(192, 0, 2, 1), a);
        Assert.Equal("192.0.2.1", a.ToString());
        Assert.Equal("0.0.0.0", Ipv4Address.Unspecified.ToString());
        Assert.Equal("255.255.255.255", Ipv4Address.Broadcast.ToString());
        Assert.Equal($"{a}", a.ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("1.2.3")]
    [InlineData("1.2.3.4.5")]
    [InlineData("256.1.1.1")]
    [InlineData("01.2.3.4")]
    [InlineData("1.2.3.")]
    [InlineData(".1.2.3")]
    [InlineData("1..2.3")]
    [InlineData(" 1.2.3.4")]
    [InlineData("1.2.3.4 ")]
    [InlineData("1.2.3.1000")]
    [InlineData("a.b.c.d")]
    public void Rejects_anything_but_four_plain_octets(string s)
    {
        Assert.False(Ipv4Address.TryParse(s, out _));
        Assert.Throws<FormatException>(() => Ipv4Address.Parse(s));
    }

    [Fact]
    public void Reads_and_writes_wire_order()
    {
        byte[] wire = [10, 1, 2, 3];
        var a = Ipv4Address.Read(wire);
        Assert.Equal(new Ipv4Address(10, 1, 2, 3), a);
        var back = new byte[4];
        a.Write(back);
        Assert.Equal(wire, back);
        Assert.Throws<ArgumentException>(() => Ipv4Address.Read(new byte[3]));
    }

    [Fact]
    public void Classifies_special_addresses()
    {
        Assert.True(Ipv4Address.Unspecified.IsUnspecified);
        Assert.True(Ipv4Address.Broadcast.IsBroadcast);
        Assert.True(Ipv4Address.Parse("224.0.0.1").IsMulticast);
        Assert.True(Ipv4Address.Parse("239.255.255.255").IsMulticast);
        Assert.False(Ipv4Address.Parse("240.0.0.1").IsMulticast);
        Assert.True(Ipv4Address.Parse("127.8.9.10").IsLoopback);
        Assert.True(Ipv4Address.Loopback.IsLoopback);
        Assert.True(Ipv4Address.Parse("169.254.3.4").IsLinkLocal);
        Assert.True(Ipv4Address.Parse("192.0.2.1").IsUnicast);
        Assert.False(Ipv4Address.Broadcast.IsUnicast);
        Assert.True(Ipv4Address.Parse("10.0.0.1") < Ipv4Address.Parse("10.0.0.2"));
    }

    [Fact]
    public void Cidr_network_broadcast_and_contains()
    {
        var c = Ipv4Cidr.Parse("192.168.1.77/24");
        Assert.Equal(Ipv4Address.Parse("192.168.1.77"), c.Address);
        Assert.Equal(24, c.PrefixLength);
        Assert.Equal(Ipv4Address.Parse("255.255.255.0"), c.Netmask);
        Assert.Equal(Ipv4Cidr.Parse("192.168.1.0/24"), c.Network);
        Assert.Equal(Ipv4Address.Parse("192.168.1.255"), c.Broadcast);
        Assert.True(c.Contains(Ipv4Address.Parse("192.168.1.1")));
        Assert.False(c.Contains(Ipv4Address.Parse("192.168.2.1")));
        Assert.True(c.Contains(Ipv4Cidr.Parse("192.168.1.128/25")));
        Assert.False(c.Contains(Ipv4Cidr.Parse("192.168.0.0/16")));
        Assert.Equal("192.168.1.77/24", c.ToString());

        var all = Ipv4Cidr.Parse("0.0.0.0/0");
        Assert.True(all.Contains(Ipv4Address.Broadcast));
        Assert.Equal(Ipv4Address.Broadcast, all.Broadcast);
        Assert.Null(Ipv4Cidr.Parse("10.0.0.0/31").Broadcast);
        Assert.Null(Ipv4Cidr.Parse("10.0.0.1/32").Broadcast);
        Assert.True(Ipv4Cidr.Parse("10.0.0.1/32").Contains(Ipv4Address.Parse("10.0.0.1")));
        Assert.False(Ipv4Cidr.Parse("10.0.0.1/32").Contains(Ipv4Address.Parse("10.0.0.2")));
    }

    [Theory]
    [InlineData("10.0.0.0")]
    [InlineData("10.0.0.0/")]
    [InlineData("10.0.0.0/33")]
    [InlineData("10.0.0.0/08")]
    [InlineData("10.0.0.0/1x")]
    [InlineData("10.0.0/8")]
    public void Cidr_rejects_bad_text(string s) => Assert.False(Ipv4Cidr.TryParse(s, out _));

    [Fact]
    public void Cidr_rejects_bad_prefix_lengths() =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new Ipv4Cidr(Ipv4Address.Loopback, 33));
}
