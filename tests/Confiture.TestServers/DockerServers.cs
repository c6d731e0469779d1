using System.Net;
using System.Net.Sockets;
using DotNet.Testcontainers.Builders;
using DotNet.Testcontainers.Networks;
using Microsoft.Extensions.Logging.Abstractions;
using Testcontainers.PostgreSql;

namespace Confiture.TestServers;

/// <summary>Two postgres:15 containers on a private network, so the target reaches the source by alias.</summary>
internal sealed class DockerServers : IAsyncDisposable
{
    public const string SourceAlias = "confiture-source";
    public const string TargetAlias = "confiture-target";
    private const string Image = "postgres:15";
    private const int ContainerPort = 5432;
    private const string DefaultSocket = "/var/run/docker.sock";
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(2);

    private readonly INetwork _network;
    private readonly PostgreSqlContainer _source;
    private readonly PostgreSqlContainer _target;

    private DockerServers(INetwork network, PostgreSqlContainer source, PostgreSqlContainer target)
    {
        _network = network;
        _source = source;
        _target = target;
    }

    public TestServer Source => Describe(_source, SourceAlias, ContainerPort);

    public TestServer Target => Describe(_target, TargetAlias, ContainerPort);

    /// <summary>A cheap probe so machines without Docker don't wait on Testcontainers' own discovery.</summary>
    public static async Task<bool> IsEngineReachableAsync(CancellationToken cancellationToken)
    {
        var dockerHost = Environment.GetEnvironmentVariable("DOCKER_HOST");
        EndPoint endPoint;
        if (string.IsNullOrWhiteSpace(dockerHost))
        {
            if (!File.Exists(DefaultSocket))
            {
                return false;
            }

            endPoint = new UnixDomainSocketEndPoint(DefaultSocket);
        }
        else if (Uri.TryCreate(dockerHost, UriKind.Absolute, out var uri) && uri.Scheme == "unix")
        {
            if (!File.Exists(uri.AbsolutePath))
            {
                return false;
            }

            endPoint = new UnixDomainSocketEndPoint(uri.AbsolutePath);
        }
        else if (uri is not null && uri.Scheme == "tcp" && uri.Port > 0)
        {
            endPoint = new DnsEndPoint(uri.Host, uri.Port);
        }
        else
        {
            // Some other transport (ssh, npipe): let Testcontainers try it.
            return true;
        }

        using var socket = endPoint is UnixDomainSocketEndPoint
            ? new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified)
            : new Socket(SocketType.Stream, ProtocolType.Tcp);
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        timeout.CancelAfter(ProbeTimeout);
        try
        {
            await socket.ConnectAsync(endPoint, timeout.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception exception) when (exception is SocketException or IOException
                                              || (exception is OperationCanceledException && !cancellationToken.IsCancellationRequested))
        {
            return false;
        }
    }

    public static async Task<DockerServers> StartAsync(CancellationToken cancellationToken)
    {
        var network = new NetworkBuilder()
            .WithName("confiture-" + Secrets.Suffix(12))
            .WithLogger(NullLogger.Instance)
            .Build();
        var source = new PostgreSqlBuilder(Image)
            .WithNetwork(network)
            .WithNetworkAliases(SourceAlias)
            .WithPassword(Secrets.Password())
            .WithCommand(ServerRoles.CommandArguments(ServerRoles.Source))
            .WithLogger(NullLogger.Instance)
            .Build();
        var target = new PostgreSqlBuilder(Image)
            .WithNetwork(network)
            .WithNetworkAliases(TargetAlias)
            .WithPassword(Secrets.Password())
            .WithCommand(ServerRoles.CommandArguments(ServerRoles.Target))
            .WithLogger(NullLogger.Instance)
            .Build();
        var servers = new DockerServers(network, source, target);
        try
        {
            await network.CreateAsync(cancellationToken).ConfigureAwait(false);
            await Task.WhenAll(source.StartAsync(cancellationToken), target.StartAsync(cancellationToken)).ConfigureAwait(false);
            return servers;
        }
        catch
        {
            await servers.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _source.DisposeAsync().ConfigureAwait(false);
        await _target.DisposeAsync().ConfigureAwait(false);
        await _network.DisposeAsync().ConfigureAwait(false);
    }

    private static TestServer Describe(PostgreSqlContainer container, string hostForPeer, int portForPeer)
    {
        var host = container.Hostname;
        int port = container.GetMappedPublicPort(ContainerPort);
        var connectionString = ConnectionStrings.WithDatabase(container.GetConnectionString(), ConnectionStrings.MaintenanceDatabase);
        return new TestServer(connectionString, host, port, hostForPeer, portForPeer);
    }
}
