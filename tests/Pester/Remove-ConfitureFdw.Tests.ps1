BeforeAll {
    Import-Module (Join-Path $PSScriptRoot 'TestHelpers.psm1') -Force
    Import-Module (Get-ModuleManifestPath) -Force

}

Describe 'Remove-ConfitureFdw parameters' -Tag UnitTests {
    It 'has every parameter the design documents' {
        $documented = @('Migration', 'PassThru')
        $documented | Where-Object { $_ -notin (Get-CommandParameterName Remove-ConfitureFdw) } | Should -BeNullOrEmpty -Because 'these documented parameters are missing'
    }

    It 'takes the session from the pipeline and supports -WhatIf' {
        $command = Get-Command Remove-ConfitureFdw
        $command.Parameters['Migration'].Attributes.Where({ $_ -is [Parameter] }).ValueFromPipeline | Should -Contain $true
        $command.Parameters.Keys | Should -Contain 'WhatIf'
    }
}

Describe 'Remove-ConfitureFdw' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-TestDatabasePair
        Invoke-TestSql -Side Source -Database $pair.Database -Sql 'CREATE TABLE users (id integer PRIMARY KEY); CREATE TABLE orders (id integer PRIMARY KEY)' | Out-Null
        Invoke-TestSql -Side Target -Database $pair.Database -AsMigrator -Sql 'CREATE TABLE users (id integer PRIMARY KEY)' | Out-Null
        $peer = Get-FdwAddressParameter $pair
        $src = Connect-ConfitureDatabase $pair.SourceMigrator
        $tgt = Connect-ConfitureDatabase $pair.TargetMigrator
        $fixture = [pscustomobject]@{ Before = Get-FdwCatalogState $pair; Enabled = $null }
    }

    BeforeEach {
        $migration = Enable-ConfitureFdw -Source $src -Target $tgt @peer
        $fixture.Enabled = Get-FdwCatalogState $pair
    }

    AfterEach {
        # Whatever a test left, the next one starts from the target's own objects only.
        $migration | Remove-ConfitureFdw -WarningAction SilentlyContinue
        Invoke-TestSql -Side Target -Database $pair.Database -Sql 'DROP SCHEMA IF EXISTS old_schema CASCADE' | Out-Null
    }

    AfterAll {
        Remove-TestDatabasePair $pair
    }

    It 'leaves no server, user mapping, foreign table or foreign schema behind' {
        $fixture.Enabled.ForeignTables | Should -Be 2

        Remove-ConfitureFdw -Migration $migration

        $state = Get-FdwCatalogState $pair
        $state.Servers | Should -Be 0
        $state.UserMappings | Should -Be 0
        $state.ForeignTables | Should -Be 0
        $state.ForeignSchemas | Should -Be 0
    }

    It 'keeps the target''s own tables' {
        Remove-ConfitureFdw -Migration $migration

        (Get-FdwCatalogState $pair).Relations | Should -Be $fixture.Before.Relations
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT to_regclass('public.users') IS NOT NULL" | Should -Be 't'
    }

    It 'can run twice: the second run finds nothing and does not fail' {
        Remove-ConfitureFdw -Migration $migration

        { Remove-ConfitureFdw -Migration $migration -ErrorAction Stop } | Should -Not -Throw
        (Get-FdwCatalogState $pair).Servers | Should -Be 0
    }

    It 'takes the session from the pipeline and emits it with -PassThru' {
        $emitted = $migration | Remove-ConfitureFdw -PassThru

        $emitted | Should -Be $migration
        (Get-FdwCatalogState $pair).Servers | Should -Be 0
    }

    It 'emits nothing without -PassThru' {
        $migration | Remove-ConfitureFdw | Should -BeNullOrEmpty
    }

    It 'cleans up the last session when -Migration is left out' {
        Remove-ConfitureFdw

        (Get-FdwCatalogState $pair).ForeignTables | Should -Be 0
        (Get-FdwCatalogState $pair).Servers | Should -Be 0
    }

    It 'changes nothing with -WhatIf and lists the DROP statements' {
        $run = Get-HostOutput { Remove-ConfitureFdw -Migration $migration -WhatIf }

        $state = Get-FdwCatalogState $pair
        $state.Servers | Should -Be $fixture.Enabled.Servers
        $state.UserMappings | Should -Be $fixture.Enabled.UserMappings
        $state.ForeignTables | Should -Be $fixture.Enabled.ForeignTables
        $state.ForeignSchemas | Should -Be $fixture.Enabled.ForeignSchemas
        $run.Text | Should -Match 'What if:'
        $run.Text | Should -Match 'DROP FOREIGN TABLE "old_schema"\."users"'
        $run.Text | Should -Match 'DROP USER MAPPING FOR'
        $run.Text | Should -Match 'DROP SERVER "confiture_source_server"'
        $run.Text | Should -Match 'DROP SCHEMA "old_schema"'
    }

    It 'shows each DROP with -Verbose' {
        $verbose = (Remove-ConfitureFdw -Migration $migration -Verbose 4>&1 | ForEach-Object Message) -join "`n"

        $verbose | Should -Match '\[\d+ ms\] DROP SERVER "confiture_source_server"'
        $verbose | Should -Match '\[\d+ ms\] DROP USER MAPPING'
    }

    It 'leaves a schema Confiture created when it holds something else, and warns naming it' {
        Invoke-TestSql -Side Target -Database $pair.Database -AsMigrator -Sql 'CREATE TABLE old_schema.notes (id integer)' | Out-Null

        Remove-ConfitureFdw -Migration $migration -WarningVariable warnings -WarningAction SilentlyContinue

        $state = Get-FdwCatalogState $pair
        $state.ForeignSchemas | Should -Be 1
        $state.ForeignTables | Should -Be 0
        $state.Servers | Should -Be 0
        Get-TestSqlValue -Side Target -Database $pair.Database -Sql "SELECT to_regclass('old_schema.notes') IS NOT NULL" | Should -Be 't'
        ($warnings -join "`n") | Should -BeLike '*notes*'
    }

    It 'keeps a foreign table it did not import, and the server that table uses, and warns naming it' {
        Invoke-TestSql -Side Target -Database $pair.Database -AsMigrator -Sql "CREATE FOREIGN TABLE old_schema.hand_made (id integer) SERVER confiture_source_server OPTIONS (table_name 'users')" | Out-Null

        Remove-ConfitureFdw -Migration $migration -WarningVariable warnings -WarningAction SilentlyContinue

        $state = Get-FdwCatalogState $pair
        $state.ForeignTables | Should -Be 1
        $state.Servers | Should -Be 1
        $state.UserMappings | Should -Be 0 -Because 'the mapping with the password goes in any case'
        ($warnings -join "`n") | Should -BeLike '*hand_made*'
    }
}

Describe 'Remove-ConfitureFdw and a foreign schema it did not create' -Tag IntegrationTests {
    BeforeAll {
        $pair = New-TestDatabasePair
        Invoke-TestSql -Side Source -Database $pair.Database -Sql 'CREATE TABLE users (id integer PRIMARY KEY)' | Out-Null
        Invoke-TestSql -Side Target -Database $pair.Database -AsMigrator -Sql 'CREATE SCHEMA staging' | Out-Null
        $peer = Get-FdwAddressParameter $pair
        $migration = Enable-ConfitureFdw -Source (Connect-ConfitureDatabase $pair.SourceMigrator) -Target (Connect-ConfitureDatabase $pair.TargetMigrator) -ForeignSchema staging @peer
        $imported = (Get-FdwCatalogState $pair -ForeignSchema staging).ForeignTables
        $migration | Remove-ConfitureFdw
    }

    AfterAll {
        Remove-TestDatabasePair $pair
    }

    It 'drops the foreign tables it imported into it' {
        $imported | Should -Be 1
        (Get-FdwCatalogState $pair -ForeignSchema staging).ForeignTables | Should -Be 0
    }

    It 'keeps the schema itself' {
        (Get-FdwCatalogState $pair -ForeignSchema staging).ForeignSchemas | Should -Be 1
    }
}

Describe 'Remove-ConfitureFdw without any session' -Tag IntegrationTests {
    It 'fails with Confiture.NoSession in a runspace where Enable-ConfitureFdw never ran' {
        $failure = Invoke-InNewRunspace {
            try { Remove-ConfitureFdw -ErrorAction Stop } catch { $_ }
        }

        $failure | Should -HaveCount 1
        $failure[0].FullyQualifiedErrorId | Should -BeLike 'Confiture.NoSession,*'
        $failure[0].CategoryInfo.Category | Should -Be 'InvalidOperation'
    }
}
