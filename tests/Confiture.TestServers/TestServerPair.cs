namespace Confiture.TestServers;

/// <summary>
/// A source and a target PostgreSQL server for integration tests: taken from the environment,
/// started in Docker, or started as throwaway local clusters, in that order of preference.
/// </summary>
public sealed class TestServerPair : IAsyncDisposable
{
    internal const string EnvironmentMode = "Environment";
    internal const string DockerMode = "Docker";
    internal const string LocalClustersMode = "LocalClusters";

    private readonly IAsyncDisposable? _owned;
    private int _disposed;

    private TestServerPair(TestServer source, TestServer target, string mode, IAsyncDisposable? owned)
    {
        Source = source;
        Target = target;
        Mode = mode;
        _owned = owned;
    }

    public TestServer Source { get; }

    public TestServer Target { get; }

    /// <summary>"Environment", "Docker" or "LocalClusters".</summary>
    public string Mode { get; }

    public static async Task<TestServerPair> StartAsync(CancellationToken cancellationToken = default)
    {
        var pair = await StartServersAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            await Task.WhenAll(
                MigratorRole.EnsureAsync(pair.Source, readAllData: true, cancellationToken),
                MigratorRole.EnsureAsync(pair.Target, readAllData: false, cancellationToken)).ConfigureAwait(false);
            return pair;
        }
        catch
        {
            await pair.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Stops and removes whatever this pair started; servers from the environment are left alone.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0 && _owned is not null)
        {
            await _owned.DisposeAsync().ConfigureAwait(false);
        }
    }

    private static async Task<TestServerPair> StartServersAsync(CancellationToken cancellationToken)
    {
        if (EnvironmentServers.TryRead(out var source, out var target))
        {
            return new TestServerPair(source, target, EnvironmentMode, owned: null);
        }

        Exception? dockerFailure = null;
        if (await DockerServers.IsEngineReachableAsync(cancellationToken).ConfigureAwait(false))
        {
            try
            {
                var docker = await DockerServers.StartAsync(cancellationToken).ConfigureAwait(false);
                return new TestServerPair(docker.Source, docker.Target, DockerMode, docker);
            }
            catch (Exception exception) when (exception is not OperationCanceledException)
            {
                // An engine that cannot pull postgres:15 (no registry access) should not fail the
                // run when local binaries can do the job; the Docker error is kept in case they cannot.
                dockerFailure = exception;
            }
        }

        if (OperatingSystem.IsWindows())
        {
            throw new InvalidOperationException(
                "No PostgreSQL test servers: throwaway local clusters need Linux or macOS. Set CONFITURE_TEST_SOURCE " +
                "and CONFITURE_TEST_TARGET to superuser connection strings, or run a Docker engine.",
                dockerFailure);
        }

        try
        {
            var clusters = await LocalClusters.StartAsync(cancellationToken).ConfigureAwait(false);
            return new TestServerPair(clusters.Source, clusters.Target, LocalClustersMode, clusters);
        }
        catch (Exception exception) when (dockerFailure is not null && exception is not OperationCanceledException)
        {
            throw new AggregateException(
                "Could not start PostgreSQL test servers in Docker nor as local clusters.", dockerFailure, exception);
        }
    }
}
