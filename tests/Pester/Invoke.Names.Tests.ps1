<#
    Invoke-ConfitureTableMigration takes several table names: by position (users, posts) and as
    piped strings, each call one run under one source snapshot.
#>

BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force
}

Describe 'Several table names for one run' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-TestDatabasePair
        $schema = @'
CREATE TABLE users (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE posts (id int PRIMARY KEY, user_id int NOT NULL REFERENCES users, title text);
CREATE TABLE tags (id int PRIMARY KEY, label text);
'@
        Invoke-TestSql -Side Source -Database $pair.Database -Sql ($schema + @'
INSERT INTO users SELECT g, 'user ' || g FROM generate_series(1, 30) g;
INSERT INTO posts SELECT g, 1 + g % 30, 'post ' || g FROM generate_series(1, 70) g;
INSERT INTO tags SELECT g, 'tag ' || g FROM generate_series(1, 5) g;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO PUBLIC;
'@) | Out-Null
        Invoke-TestSql -Side Target -Database $pair.Database -AsMigrator -Sql $schema | Out-Null
        $peer = Get-FdwAddressParameter $pair
        $m = Enable-ConfitureFdw -Source (Connect-ConfitureDatabase $pair.SourceMigrator) -Target (Connect-ConfitureDatabase $pair.TargetMigrator) @peer -Confirm:$false
    }

    AfterAll {
        if ($m) { $m | Remove-ConfitureFdw -Force -ErrorAction Continue }
        Remove-TestDatabasePair $pair
    }

    It 'takes names by position: Invoke-ConfitureTableMigration posts, users is one run, parents first, one snapshot' {
        $results = @(Invoke-ConfitureTableMigration -Migration $m posts, users -Force)
        $results.SourceTable | Should -Be @('users', 'posts')
        $results.RowsMigrated | Should -Be @(30, 70)
        @($results.SourceSnapshotAt | Select-Object -Unique).Count | Should -Be 1
        $results[0].SourceSnapshotAt | Should -Not -BeNullOrEmpty
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql 'SELECT count(*) FROM tags' | Should -Be '0'
    }

    It 'takes piped strings as one run: ''tags'', ''posts'' | Invoke-ConfitureTableMigration -Truncate -Force' {
        $results = @('tags', 'posts' | Invoke-ConfitureTableMigration -Migration $m -Truncate -Force -ErrorAction Stop)
        ($results.SourceTable | Sort-Object) | Should -Be @('posts', 'tags')
        @($results.SourceSnapshotAt | Select-Object -Unique).Count | Should -Be 1
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql 'SELECT (SELECT count(*) FROM tags) || '','' || (SELECT count(*) FROM posts)' | Should -Be '5,70'
    }
}
