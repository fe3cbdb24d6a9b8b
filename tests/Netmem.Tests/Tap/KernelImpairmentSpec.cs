using System.Globalization;
using System.Text;

namespace Netmem.Tests.Tap;

/// <summary>
/// The damage one kernel-side impairment does, in netem's vocabulary (probabilities 0..1, times in
/// ms): what <see cref="KernelEgressImpairment"/> asks of netem, or of its substitutes where the
/// kernel has no netem. A test row names it by netem's own arguments (<see cref="Parse"/>).
/// </summary>
internal sealed record KernelImpairmentSpec(
    double Loss = 0, double Duplicate = 0, double Corrupt = 0,
    int DelayMs = 0, int JitterMs = 0, double Reorder = 0, double ReorderCorrelation = 0)
{
    /// <summary>Reads the netem arguments this record covers: loss P%, duplicate P%, corrupt P%, delay Tms [Jms], reorder P% [C%].</summary>
    public static KernelImpairmentSpec Parse(string netem)
    {
        var t = netem.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        var spec = new KernelImpairmentSpec();
        for (int i = 0; i < t.Length; i++)
        {
            bool HasNext(string suffix) => i + 1 < t.Length && t[i + 1].EndsWith(suffix, StringComparison.Ordinal);
            double Next(string suffix) => HasNext(suffix)
                ? double.Parse(t[++i][..^suffix.Length], CultureInfo.InvariantCulture)
                : throw new FormatException($"'{netem}': '{t[i]}' wants a value in {suffix}");
            spec = t[i] switch
            {
                "loss" => spec with { Loss = Next("%") / 100 },
                "duplicate" => spec with { Duplicate = Next("%") / 100 },
                "corrupt" => spec with { Corrupt = Next("%") / 100 },
                "delay" => spec with { DelayMs = (int)Next("ms"), JitterMs = HasNext("ms") ? (int)Next("ms") : 0 },
                "reorder" => spec with { Reorder = Next("%") / 100, ReorderCorrelation = HasNext("%") ? Next("%") / 100 : 0 },
                _ => throw new FormatException($"'{netem}': '{t[i]}' is not a netem argument this spec covers"),
            };
        }
        if (spec.Reorder > 0 && spec.DelayMs == 0) throw new FormatException($"'{netem}': netem reorders only with a delay");
        return spec;
    }

    /// <summary>The arguments for <c>tc qdisc add ... netem</c>.</summary>
    public string NetemArgs
    {
        get
        {
            var b = new StringBuilder();
            string P(double p) => (p * 100).ToString("0.##", CultureInfo.InvariantCulture) + "%";
            if (Loss > 0) b.Append($" loss {P(Loss)}");
            if (Duplicate > 0) b.Append($" duplicate {P(Duplicate)}");
            if (Corrupt > 0) b.Append($" corrupt {P(Corrupt)}");
            if (DelayMs > 0) b.Append($" delay {DelayMs}ms").Append(JitterMs > 0 ? $" {JitterMs}ms" : "");
            if (Reorder > 0) b.Append($" reorder {P(Reorder)}").Append(ReorderCorrelation > 0 ? $" {P(ReorderCorrelation)}" : "");
            return b.ToString().Trim();
        }
    }

    public override string ToString() => NetemArgs;
}
