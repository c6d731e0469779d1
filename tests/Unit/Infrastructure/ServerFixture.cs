using Confiture.TestServers;

namespace Confiture.Tests.Unit.Infrastructure;

/// <summary>Two real PostgreSQL servers for the whole run; a missing server fails the tests, never skips them.</summary>
public sealed class ServerFixture : IAsyncLifetime
{
    private TestServerPair? _servers;

    public TestServerPair Servers => _servers ?? throw new InvalidOperationException("The test servers did not start.");

    public async Task InitializeAsync() => _servers = await TestServerPair.StartAsync();

    public async Task DisposeAsync()
    {
        if (_servers is not null)
        {
            await _servers.DisposeAsync();
        }
    }
}

[CollectionDefinition(Name)]
public sealed class ServerCollection : ICollectionFixture<ServerFixture>
{
    public const string Name = "PostgreSQL servers";
}
