using Confiture.Core;
using Confiture.Core.Connections;
using Confiture.Core.Fdw;
using Confiture.TestServers;

namespace Confiture.Tests.Unit.Infrastructure;

/// <summary>
/// One test's world: a fresh source database and target database on the two servers, endpoints to
/// them (the target as the non-superuser migration role unless asked otherwise), dropped at the end.
/// </summary>
public sealed class Scenario : IAsyncDisposable
{
    private readonly List<IAsyncDisposable> _owned = [];

    private Scenario(TestDatabasePair databases, TestServerPair servers)
    {
        Databases = databases;
        Servers = servers;
    }

    public TestDatabasePair Databases { get; }

    public TestServerPair Servers { get; }

    public string SourceAdmin => Databases.SourceAdmin;

    public string TargetAdmin => Databases.TargetAdmin;

    public static async Task<Scenario> CreateAsync(ServerFixture fixture, bool grantMigrator = true) =>
        new(await TestDatabasePair.CreateAsync(fixture.Servers, grantMigrator), fixture.Servers);

    public DatabaseEndpoint Endpoint(string connectionString)
    {
        var endpoint = DatabaseEndpoint.FromConnectionString(connectionString);
        _owned.Add(endpoint);
        return endpoint;
    }

    /// <summary>A migrator reading the source as its superuser and writing the target as the migration role (or the superuser).</summary>
    public SchemaToSchemaMigrator Migrator(FdwSettings? settings = null, bool targetAsSuperuser = false) =>
        new(Endpoint(SourceAdmin), Endpoint(targetAsSuperuser ? TargetAdmin : Databases.TargetMigrator), WithPeerAddress(settings ?? new FdwSettings()));

    /// <summary>The address the target server uses to reach the source (differs from ours only in Docker).</summary>
    public FdwSettings WithPeerAddress(FdwSettings settings) =>
        Servers.Source.HostForPeer == Servers.Source.Host && Servers.Source.PortForPeer == Servers.Source.Port
            ? settings
            : settings with { SourceHostForTarget = Servers.Source.HostForPeer, SourcePortForTarget = Servers.Source.PortForPeer };

    public async ValueTask DisposeAsync()
    {
        foreach (var owned in _owned)
        {
            await owned.DisposeAsync();
        }

        await Databases.DisposeAsync();
    }
}
