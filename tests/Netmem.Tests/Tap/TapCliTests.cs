using System.Text.Json;
using Netmem.Cli;
using Netmem.Drivers.Tap;

namespace Netmem.Tests.Tap;

/// <summary><c>netmem tap up</c> leaves a persistent, addressed tap in its namespace; <c>tap down</c> removes both.</summary>
public sealed class TapCliTests
{
    [Fact]
    public void Tap_up_creates_an_addressed_persistent_tap_in_a_namespace_and_tap_down_removes_it()
    {
        Requires.Tap();
        string name = $"nmc{Environment.ProcessId:x}";
        string ns = "nm-" + name;
        var o = new StringWriter();
        var err = new StringWriter();
        try
        {
            int rc = TapCommands.RunUp(o, err, name, "10.201.250.1/24", 9000, offloads: false, netns: null, json: true);
            Assert.True(rc == 0, err.ToString());
            using var doc = JsonDocument.Parse(o.ToString());
            Assert.Equal(name, doc.RootElement.GetProperty("ifname").GetString());
            Assert.Equal(ns, doc.RootElement.GetProperty("netns").GetString());
            Assert.Equal("0x0", doc.RootElement.GetProperty("tun-offload").GetString());

            // Our fds are closed, but the tap persists inside the namespace with its address and MTU.
            string link = HostCommand.Ip("-n", ns, "-j", "addr", "show", "dev", name);
            using var l = JsonDocument.Parse(link);
            Assert.Equal(9000, l.RootElement[0].GetProperty("mtu").GetInt32());
            Assert.Contains("10.201.250.1", link);

            Assert.Equal(0, TapCommands.RunDown(o, err, name, netns: null));
            Assert.False(HostCommand.Run("ip", ["netns", "exec", ns, "true"], TimeSpan.FromSeconds(5)).Succeeded, "the namespace is still there");
            Assert.False(HostCommand.Run("ip", ["link", "show", name], TimeSpan.FromSeconds(5)).Succeeded, "the tap came back to the root namespace");
        }
        finally
        {
            HostCommand.Run("ip", ["-n", ns, "tuntap", "del", "dev", name, "mode", "tap"], TimeSpan.FromSeconds(5));
            HostCommand.Run("ip", ["netns", "del", ns], TimeSpan.FromSeconds(5));
        }
    }

    [Fact]
    public void Tap_up_rejects_an_address_without_a_prefix()
    {
        var err = new StringWriter();
        Assert.Equal(2, TapCommands.RunUp(new StringWriter(), err, "nmx0", "10.201.0.1", 1500, true, null, false));
        Assert.Contains("prefix", err.ToString());
    }
}
