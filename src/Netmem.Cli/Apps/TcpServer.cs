using Netmem.Sockets;
using Netmem.Stack;

namespace Netmem.Cli.Apps;

/// <summary>
/// A small server on the stack's socket API: a listener, an accept loop, and one task per connection
/// running <see cref="ServeAsync"/>. These apps live in the CLI, not in src/Netmem, because they are
/// users of the stack (what an application would write), not part of it; the CLI and the tests drive them.
/// <see cref="DisposeAsync"/> stops accepting, cancels the connections and waits for them.
/// </summary>
public abstract class TcpServer : IAsyncDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _conns = [];
    private readonly Lock _lock = new();
    private readonly TcpListener _listener;
    private readonly Task _accept;
    private long _connections, _bytesIn, _bytesOut, _failures;

    protected TcpServer(NetStack stack, ushort port, int backlog = 128)
    {
        ArgumentNullException.ThrowIfNull(stack);
        _listener = stack.ListenTcp(port, backlog: backlog);
        Port = port;
        _accept = Task.Run(AcceptLoop);
    }

    public ushort Port { get; }
    /// <summary>Connections accepted so far.</summary>
    public long Connections => Interlocked.Read(ref _connections);
    public long BytesIn => Interlocked.Read(ref _bytesIn);
    public long BytesOut => Interlocked.Read(ref _bytesOut);
    /// <summary>Connections that ended with an error (reset, timeout) rather than a close.</summary>
    public long Failures => Interlocked.Read(ref _failures);
    /// <summary>The last error a connection ended with (diagnostics).</summary>
    public Exception? LastError { get; private set; }

    protected void CountIn(int n) => Interlocked.Add(ref _bytesIn, n);
    protected void CountOut(int n) => Interlocked.Add(ref _bytesOut, n);

    /// <summary>Serves one connection until the peer is done; the caller closes the socket afterwards.</summary>
    protected abstract Task ServeAsync(TcpSocket socket, CancellationToken ct);

    private async Task AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            TcpSocket s;
            try
            {
                s = await _listener.AcceptAsync(_stop.Token);
            }
            catch (Exception e) when (e is OperationCanceledException or NetmemErrnoException)
            {
                return;
            }
            Interlocked.Increment(ref _connections);
            var t = Task.Run(() => Serve(s));
            lock (_lock)
            {
                _conns.RemoveAll(c => c.IsCompleted);
                _conns.Add(t);
            }
        }
    }

    private async Task Serve(TcpSocket s)
    {
        try
        {
            await ServeAsync(s, _stop.Token);
            using var close = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            close.CancelAfter(TimeSpan.FromSeconds(10)); // a peer that never ACKs our FIN is not waited for
            await s.CloseAsync(close.Token);
        }
        catch (Exception e) when (e is OperationCanceledException or NetmemErrnoException)
        {
            if (e is NetmemErrnoException) { Interlocked.Increment(ref _failures); LastError = e; }
            s.Abort();
        }
        finally
        {
            s.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _listener.Stop();
        _stop.Cancel();
        await _accept.ConfigureAwait(false);
        Task[] all;
        lock (_lock) all = [.. _conns];
        await Task.WhenAll(all).WaitAsync(TimeSpan.FromSeconds(10)).ConfigureAwait(false);
        _listener.Dispose();
        _stop.Dispose();
        GC.SuppressFinalize(this);
    }
}
