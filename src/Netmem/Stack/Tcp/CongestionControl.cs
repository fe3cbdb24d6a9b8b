namespace Netmem.Stack.Tcp;

/// <summary>
/// The registry of congestion control algorithms (<c>tcp_register_congestion_control</c>,
/// <c>tcp_ca_find</c>, <c>net.ipv4.tcp_congestion_control</c>): creates one instance per connection by
/// its TCP_CONGESTION name.
/// </summary>
public static class CongestionControl
{
    /// <summary>The algorithm a connection gets when none is asked for (Linux's default).</summary>
    public const string Default = Cubic.AlgorithmName;

    private static readonly string[] s_names = [Cubic.AlgorithmName, NewReno.AlgorithmName];

    /// <summary>The names <see cref="Create"/> knows (<c>tcp_available_congestion_control</c>).</summary>
    public static IReadOnlyList<string> Names => s_names;

    /// <summary>A new instance of the algorithm named <paramref name="name"/> (exact, lower-case names as in Linux).</summary>
    /// <exception cref="ArgumentException">The name is unknown (Linux answers ENOENT to setsockopt; here it is a misuse).</exception>
    public static ICongestionControl Create(string name = Default)
    {
        ArgumentNullException.ThrowIfNull(name);
        return name switch
        {
            Cubic.AlgorithmName => new Cubic(),
            NewReno.AlgorithmName => new NewReno(),
            _ => throw new ArgumentException(
                $"unknown TCP congestion control algorithm \"{name}\": known are {string.Join(", ", s_names)}", nameof(name)),
        };
    }
}
