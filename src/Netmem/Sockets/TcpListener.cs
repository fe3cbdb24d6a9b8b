using Netmem.Stack;
using Netmem.Stack.Tcp;
using Netmem.Wire;

namespace Netmem.Sockets;

/// <summary>
/// A listening TCP socket: <see cref="Start"/> is bind + listen (EADDRINUSE when taken), <see cref="AcceptAsync"/>
/// is <c>accept()</c> (<c>inet_csk_accept</c>): the oldest connection that finished its handshake.
/// </summary>
public sealed class TcpListener : ITcpListenerEvents, IDisposable
{
    private readonly TcpLayer _layer;
    private readonly SemaphoreSlim _ready = new(0);
    private TcpListenEndpoint? _endpoint;

    /// <summary>A listener on <paramref name="stack"/>'s TCP at <paramref name="port"/> (any local address unless <paramref name="address"/> is given).</summary>
    public TcpListener(NetStack stack, ushort port, Ipv4Address? address = null)
        : this((stack ?? throw new ArgumentNullException(nameof(stack))).Tcp, address ?? Ipv4Address.Unspecified, port) { }

    public TcpListener(TcpLayer layer, Ipv4Address address, ushort port)
    {
        _layer = layer ?? throw new ArgumentNullException(nameof(layer));
        LocalEndpoint = new TcpEndpoint(address, port);
        Settings = layer.Defaults with { };
    }

    public TcpEndpoint LocalEndpoint { get; }
    /// <summary>The settings accepted sockets start with.</summary>
    public TcpSettings Settings { get; }
    /// <summary>SO_ZEROCOPY on the listener: the sockets it accepts inherit it.</summary>
    public bool ZeroCopy { get => Settings.ZeroCopy; set => Settings.ZeroCopy = value; }
    public TcpListenEndpoint? Endpoint => _endpoint;

    public void Start(int backlog = 128)
    {
        if (_endpoint is not null) throw new NetmemErrnoException(Errno.EINVAL, $"{this} is already listening");
        var err = _layer.Listen(LocalEndpoint, backlog, Settings, out var ep);
        if (err != Errno.None) throw new NetmemErrnoException(err, $"listen on {LocalEndpoint}");
        _endpoint = ep!;
        _endpoint.Events = this;
    }

    public async ValueTask<TcpSocket> AcceptAsync(CancellationToken ct = default)
    {
        var ep = _endpoint ?? throw new NetmemErrnoException(Errno.EINVAL, $"accept on {LocalEndpoint}: not listening");
        while (true)
        {
            if (ep.TryAccept(out var c)) return new TcpSocket(_layer, c);
            if (ep.IsClosed) throw new NetmemErrnoException(Errno.EINVAL, $"accept on {LocalEndpoint}: the listener was stopped");
            await _ready.WaitAsync(ct).ConfigureAwait(false);
        }
    }

    void ITcpListenerEvents.OnAcceptable(TcpListenEndpoint listener) => _ready.Release();

    public void Stop()
    {
        _endpoint?.Close();
        _ready.Release();
    }

    public void Dispose() => Stop();

    public override string ToString() => $"tcp listener {LocalEndpoint}";
}
