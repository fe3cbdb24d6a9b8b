using System.Diagnostics;
using System.Diagnostics.CodeAnalysis;
using Netmem.Drivers.Tap;
using Netmem.Tests.Native;

namespace Netmem.Tests;

/// <summary>
/// What a test needs beyond the .NET SDK (root, /dev/net/tun, a host tool, libnetmem.so). A missing
/// piece reports the test as skipped with the reason (xunit v3's <see cref="Assert.Skip"/>), never as
/// passed. With <c>NETMEM_REQUIRE_ALL=1</c> (set by .ci/run, which runs as root and installs every
/// tool) a skip is a failure instead, so a broken install step fails CI loudly.
/// </summary>
internal static class Requires
{
    /// <summary>The Debian package that brings each tool a test starts (the README's install line).</summary>
    private static readonly Dictionary<string, string> Packages = new()
    {
        ["ip"] = "iproute2",
        ["tc"] = "iproute2",
        ["ethtool"] = "ethtool",
        ["python3"] = "python3",
        ["socat"] = "socat",
        ["curl"] = "curl",
        ["tshark"] = "tshark",
        ["iperf3"] = "iperf3",
        ["clang"] = "clang",
    };

    /// <summary>Whether skips are failures (<c>NETMEM_REQUIRE_ALL=1</c>).</summary>
    public static bool All => Environment.GetEnvironmentVariable("NETMEM_REQUIRE_ALL") == "1";

    /// <summary>Skips the running test with <paramref name="reason"/>, or fails it under <c>NETMEM_REQUIRE_ALL=1</c>.</summary>
    [DoesNotReturn]
    public static void Skip(string reason)
    {
        if (All) Assert.Fail($"NETMEM_REQUIRE_ALL=1, and this test cannot run here: {reason}");
        Assert.Skip(reason);
        throw new UnreachableException();
    }

    /// <summary>Root (CAP_NET_ADMIN) and a working /dev/net/tun, plus iproute2 to set links up.</summary>
    public static void Tap()
    {
        if (!TapDevice.IsSupported(out string reason)) Skip($"needs root and /dev/net/tun: {reason}");
        Tools("ip");
    }

    /// <summary><see cref="Tap"/> plus python3 (the kernel-side peers) and <paramref name="tools"/>.</summary>
    public static void TapStack(params string[] tools)
    {
        Tap();
        Tools(["python3", .. tools]);
    }

    /// <summary>Each of <paramref name="tools"/> is an executable on PATH.</summary>
    public static void Tools(params string[] tools)
    {
        foreach (var tool in tools)
        {
            if (FindTool(tool) is not null) continue;
            string pkg = Packages.GetValueOrDefault(tool, tool);
            Skip($"'{tool}' is not installed (not on PATH={Environment.GetEnvironmentVariable("PATH")}); apt-get install {pkg}");
        }
    }

    /// <summary>libnetmem.so was published by the build (NativeAOT needs clang and lld).</summary>
    public static void NativeLibrary()
    {
        if (NetmemNative.Unavailable is { } why) Skip(why);
    }

    /// <summary>The full path of executable <paramref name="name"/> on PATH, or null.</summary>
    public static string? FindTool(string name)
    {
        foreach (var dir in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':'))
        {
            if (dir.Length == 0) continue;
            string path = Path.Combine(dir, name);
            if (File.Exists(path) && (OperatingSystem.IsWindows() || (File.GetUnixFileMode(path) & (UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute)) != 0))
                return path;
        }
        return null;
    }
}
