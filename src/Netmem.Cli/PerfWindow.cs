using System.Diagnostics;
using Netmem.Drivers.VirtualNic;

namespace Netmem.Cli;

/// <summary>Bytes, frames, allocation and time of one or more measured windows.</summary>
internal readonly record struct PerfWindow(long Bytes, long Frames, long Allocated, double Seconds, double Cpu)
{
    /// <summary>Time after each switch of mode before a window opens (the other mode's bytes in flight drain, the window reopens).</summary>
    public const double SettleSeconds = 0.2;

    public PerfDevmemFigure Figure => new(Seconds > 0 ? Bytes * 8 / Seconds / 1e9 : 0, Bytes, Seconds, Frames, Allocated, Cpu);

    public static PerfWindow operator +(PerfWindow a, PerfWindow b) => new(a.Bytes + b.Bytes, a.Frames + b.Frames, a.Allocated + b.Allocated, a.Seconds + b.Seconds, a.Cpu + b.Cpu);

    /// <summary>Reads the receiver's count, vnic1's frames and the process's allocation at both ends of a window of <paramref name="seconds"/>.</summary>
    public static PerfWindow Measure(VirtualNicPair pair, Func<long> received, double seconds)
    {
        using var self = Process.GetCurrentProcess();
        long b0 = received(), f0 = pair.B.GetStats().RxPackets, a0 = GC.GetTotalAllocatedBytes(precise: true);
        var c0 = self.TotalProcessorTime;
        var sw = Stopwatch.StartNew();
        Thread.Sleep(TimeSpan.FromSeconds(seconds));
        long b1 = received(), f1 = pair.B.GetStats().RxPackets, a1 = GC.GetTotalAllocatedBytes(precise: true);
        double secs = sw.Elapsed.TotalSeconds;
        self.Refresh();
        return new PerfWindow(b1 - b0, f1 - f0, a1 - a0, secs, (self.TotalProcessorTime - c0).TotalSeconds);
    }
}
