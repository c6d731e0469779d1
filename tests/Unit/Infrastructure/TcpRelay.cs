using System.Net;
using System.Net.Sockets;

namespace Confiture.Tests.Unit.Infrastructure;

/// <summary>
/// A loopback TCP relay in front of a server, so a test can make that server vanish mid-operation:
/// <see cref="Cut"/> resets every relayed connection and refuses new ones, as a stopped server would.
/// </summary>
public sealed class TcpRelay : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly string _host;
    private readonly int _port;
    private readonly List<Socket> _sockets = [];
    private readonly CancellationTokenSource _cut = new();
    private readonly Task _accepting;

    public TcpRelay(string host, int port)
    {
        (_host, _port) = (host, port);
        _listener.Start();
        _accepting = AcceptAsync();
    }

    public int Port => ((IPEndPoint)_listener.LocalEndpoint).Port;

    public void Cut()
    {
        _cut.Cancel();
        _listener.Stop();
        lock (_sockets)
        {
            foreach (var socket in _sockets)
            {
                socket.LingerState = new LingerOption(true, 0);
                socket.Close();
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        if (!_cut.IsCancellationRequested)
        {
            Cut();
        }

        await Task.WhenAny(_accepting, Task.Delay(1000));
        _cut.Dispose();
    }

    private async Task AcceptAsync()
    {
        try
        {
            while (!_cut.IsCancellationRequested)
            {
                var client = await _listener.AcceptSocketAsync(_cut.Token);
                var server = new Socket(SocketType.Stream, ProtocolType.Tcp);
                await server.ConnectAsync(_host, _port, _cut.Token);
                lock (_sockets)
                {
                    _sockets.Add(client);
                    _sockets.Add(server);
                }

                _ = PumpAsync(client, server);
                _ = PumpAsync(server, client);
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Cut: stop accepting.
        }
    }

    private async Task PumpAsync(Socket from, Socket to)
    {
        var buffer = new byte[65536];
        try
        {
            int read;
            while ((read = await from.ReceiveAsync(buffer, SocketFlags.None, _cut.Token)) > 0)
            {
                await to.SendAsync(buffer.AsMemory(0, read), SocketFlags.None, _cut.Token);
            }

            to.Shutdown(SocketShutdown.Send);
        }
        catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Either side gone: the other is closed by Cut or by its own end.
        }
    }
}
