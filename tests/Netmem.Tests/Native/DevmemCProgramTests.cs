using System.Diagnostics;

namespace Netmem.Tests.Native;

/// <summary>
/// tests/native-c/devmem_rx.c: a C devmem receiver that uses only libnetmem.so's C ABI (socket calls,
/// a udmabuf, netmem_bind_rx), compiled by clang and run as its own process. It drives its own traffic
/// over the instance's device and checks every byte in the mmap'ed udmabuf and every DONTNEED count.
/// tests/native-c/devmem_tx.c is its sending side: bind-tx and sendmsg(MSG_ZEROCOPY, SCM_DEVMEM_DMABUF) from a
/// udmabuf, every completion read back with MSG_ERRQUEUE.
/// </summary>
public sealed class DevmemCProgramTests
{
    [Fact]
    public void CDevmemReceiverValidatesOneMebibyte()
    {
        Requires.NativeLibrary();
        Requires.Tools("clang");
        string source = FindSource("tests/native-c/devmem_rx.c");
        string dir = Directory.CreateTempSubdirectory("netmem-devmem-c").FullName;
        try
        {
            string exe = Path.Combine(dir, "devmem_rx");
            var (cc, ccOut) = Run("clang", ["-O1", "-Wall", "-Werror", "-o", exe, source, "-L", NetmemNative.Dir, "-lnetmem", $"-Wl,-rpath,{NetmemNative.Dir}"]);
            Assert.True(cc == 0, $"clang failed: {ccOut}");
            var (rc, output) = Run(exe, ["1048576"]);
            Assert.True(rc == 0, $"devmem_rx exited {rc}: {output}");
            Assert.Contains("ok 1048576 bytes, 1048576 in the dma-buf", output);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void CDevmemSenderSendsFourMebibytesFromTheDmabuf()
    {
        Requires.NativeLibrary();
        Requires.Tools("clang");
        string source = FindSource("tests/native-c/devmem_tx.c");
        string dir = Directory.CreateTempSubdirectory("netmem-devmem-tx-c").FullName;
        try
        {
            string exe = Path.Combine(dir, "devmem_tx");
            var (cc, ccOut) = Run("clang", ["-O1", "-Wall", "-Werror", "-o", exe, source, "-L", NetmemNative.Dir, "-lnetmem", $"-Wl,-rpath,{NetmemNative.Dir}"]);
            Assert.True(cc == 0, $"clang failed: {ccOut}");
            var (rc, output) = Run(exe, ["4194304"]);
            Assert.True(rc == 0, $"devmem_tx exited {rc}: {output}");
            Assert.Matches(@"^ok 4194304 bytes from the dma-buf in (\d+) sends, \1 completed", output);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    private static string FindSource(string relative)
    {
        for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
        {
            string p = Path.Combine(d.FullName, relative);
            if (File.Exists(p)) return p;
        }
        throw new FileNotFoundException($"{relative} above {AppContext.BaseDirectory}");
    }

    private static (int Exit, string Output) Run(string file, string[] args)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(120_000)) // a hang guard, not a timing assertion
        {
            p.Kill(entireProcessTree: true);
            return (-1, "killed after 120 s");
        }
        return (p.ExitCode, stdout.Result + stderr.Result);
    }
}
