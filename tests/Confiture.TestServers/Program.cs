using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Confiture.TestServers;

/// <summary>
/// `serve`: starts a server pair for callers outside .NET (Pester), announces it as one JSON line on
/// stdout, and keeps it until stdin closes, a line "stop" arrives, or the process is told to end.
/// </summary>
internal static class Program
{
    private static async Task<int> Main(string[] args)
    {
        if (args is not ["serve"])
        {
            await Console.Error.WriteLineAsync("usage: Confiture.TestServers serve").ConfigureAwait(false);
            return 1;
        }

        // Whatever a library might print must not get between the caller and the one JSON line.
        var announcement = Console.Out;
        Console.SetOut(Console.Error);

        using var shutdown = new CancellationTokenSource();
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, context => RequestShutdown(context, shutdown));
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context => RequestShutdown(context, shutdown));
        using var sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context => RequestShutdown(context, shutdown));

        TestServerPair? servers = null;
        try
        {
            var stopwatch = Stopwatch.StartNew();
            servers = await TestServerPair.StartAsync(shutdown.Token).ConfigureAwait(false);
            await Console.Error.WriteLineAsync(
                $"Test servers ready ({servers.Mode}) in {stopwatch.Elapsed.TotalSeconds:0.0} s: " +
                $"source {servers.Source.Host}:{servers.Source.Port}, target {servers.Target.Host}:{servers.Target.Port}")
                .ConfigureAwait(false);

            var json = JsonSerializer.Serialize(ServeAnnouncement.From(servers), ServeJsonContext.Default.ServeAnnouncement);
            await announcement.WriteLineAsync(json).ConfigureAwait(false);
            await announcement.FlushAsync().ConfigureAwait(false);

            await WaitForStopAsync(shutdown.Token).ConfigureAwait(false);
            return 0;
        }
        catch (OperationCanceledException) when (shutdown.IsCancellationRequested)
        {
            await Console.Error.WriteLineAsync("Stopped before the servers were ready.").ConfigureAwait(false);
            return 1;
        }
#pragma warning disable CA1031 // Any failure is reported the same way: message on stderr, exit code 1.
        catch (Exception exception)
#pragma warning restore CA1031
        {
            // The fixture's own failures carry complete messages; anything else gets its stack trace.
            var report = exception is InvalidOperationException ? exception.Message : exception.ToString();
            await Console.Error.WriteLineAsync("Could not serve test servers: " + report).ConfigureAwait(false);
            return 1;
        }
        finally
        {
            if (servers is not null)
            {
                await servers.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    private static void RequestShutdown(PosixSignalContext context, CancellationTokenSource shutdown)
    {
        // Keep the process alive until the servers are disposed; Main returns after that.
        context.Cancel = true;
        shutdown.Cancel();
    }

    private static async Task WaitForStopAsync(CancellationToken cancellationToken)
    {
        // Console reads block a thread and ignore cancellation, so the read runs on its own and is
        // abandoned if a signal wins the race.
        var stdin = Task.Run(async () =>
        {
            while (await Console.In.ReadLineAsync().ConfigureAwait(false) is { } line)
            {
                if (string.Equals(line.Trim(), "stop", StringComparison.OrdinalIgnoreCase))
                {
                    return;
                }
            }
        }, CancellationToken.None);
        var signalled = Task.Delay(Timeout.Infinite, cancellationToken);
        await Task.WhenAny(stdin, signalled).ConfigureAwait(false);
    }
}

internal sealed record ServeAnnouncement(
    string Mode,
    string Source,
    string Target,
    string SourceHostForTarget,
    int SourcePortForTarget,
    string MigratorUser,
    string MigratorPassword)
{
    public static ServeAnnouncement From(TestServerPair servers) =>
        new(
            servers.Mode,
            servers.Source.AdminConnectionString,
            servers.Target.AdminConnectionString,
            servers.Source.HostForPeer,
            servers.Source.PortForPeer,
            TestRoles.MigratorUser,
            TestRoles.MigratorPassword);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.CamelCase)]
[JsonSerializable(typeof(ServeAnnouncement))]
internal sealed partial class ServeJsonContext : JsonSerializerContext;
