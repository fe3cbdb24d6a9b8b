using System.Diagnostics;

namespace Netmem.Drivers.Tap;

/// <summary>What a finished host command returned.</summary>
public readonly record struct HostCommandResult(int ExitCode, string Stdout, string Stderr)
{
    public bool Succeeded => ExitCode == 0;
}

/// <summary>
/// Runs host tools (iproute2, and programs inside a namespace through <c>ip netns exec</c>) with an
/// argument list (no shell), a timeout, and stderr in the exception when they fail.
/// </summary>
public static class HostCommand
{
    /// <summary>Runs <paramref name="file"/> and waits up to <paramref name="timeout"/>; a process still running then is killed (exit code -1).</summary>
    public static HostCommandResult Run(string file, IEnumerable<string> args, TimeSpan timeout)
    {
        using var p = Start(file, args);
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeout))
        {
            try { p.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
            p.WaitForExit(1000);
            return new HostCommandResult(-1, Completed(stdout), Completed(stderr) + $"\n(killed after {timeout.TotalSeconds:0.#} s)");
        }
        p.WaitForExit(); // flushes the redirected streams
        return new HostCommandResult(p.ExitCode, stdout.Result, stderr.Result);
    }

    private static string Completed(Task<string> t) => t.Wait(1000) ? t.Result : "";

    /// <summary>
    /// Starts <paramref name="file"/> with redirected stdin, stdout and stderr; the caller waits and disposes.
    /// A tool that is not installed throws <see cref="InvalidOperationException"/> naming it.
    /// </summary>
    public static Process Start(string file, IEnumerable<string> args)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        try
        {
            return Process.Start(psi) ?? throw new InvalidOperationException($"could not start {file}");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            // ENOENT from exec: say which tool is missing rather than "No such file or directory".
            throw new InvalidOperationException($"could not start '{file}': {e.Message} (is it installed and on PATH={Environment.GetEnvironmentVariable("PATH")}?)", e);
        }
    }

    /// <summary><c>ip ARGS</c>; throws with the command line and stderr when it exits non-zero.</summary>
    public static string Ip(params string[] args)
    {
        var r = Run("ip", args, TimeSpan.FromSeconds(10));
        if (!r.Succeeded)
            throw new InvalidOperationException($"'ip {string.Join(' ', args)}' failed (exit {r.ExitCode}): {r.Stderr.Trim()}");
        return r.Stdout;
    }
}
