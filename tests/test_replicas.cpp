// SPDX-License-Identifier: MIT
// A real streaming replica of the PostgreSQL test server (tests/run.sh starts it: DORM_TEST_REPLICA_URL): reads
// routed to it, writes to the primary, rows replicated, the replica's read-only refusal, and a replica that goes
// away and comes back. Under CI a missing replica fails these tests.
#include "support/fixture.hpp"
#include "support/settings.hpp"

#include <dorm/router.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <functional>
#include <thread>

namespace {
/// The replica's URL (nullptr outside CI when there is none).
const char* replica_url() { return test::required_setting("DORM_TEST_REPLICA_URL", "the replica tests"); }

/// Reads from "replica", writes to "default" (the primary); with `failover`, reads go to the primary while the
/// replica cannot be reached.
struct PrimaryReplicaRouter : dorm::Router {
    bool failover = false;
    std::optional<std::string> db_for_read(const dorm::ModelMeta&, const dorm::Hints&) const override {
        if (failover && !dorm::databases()["replica"].is_usable()) return "default";
        return "replica";
    }
    std::optional<std::string> db_for_write(const dorm::ModelMeta&, const dorm::Hints&) const override {
        return "default";
    }
    std::optional<bool> allow_relation(const dorm::Instance&, const dorm::Instance&) const override { return true; }
};

/// Routers for the test's duration.
struct Routing {
    explicit Routing(std::shared_ptr<const dorm::Router> r) { dorm::databases().set_routers({std::move(r)}); }
    ~Routing() { dorm::databases().set_routers({}); }
    Routing(const Routing&) = delete;
    Routing& operator=(const Routing&) = delete;
};

/// Whether `what` becomes true within 10 s (replication is asynchronous); errors count as "not yet" (the replica
/// may not have the tables yet).
bool eventually(const std::function<bool()>& what) {
    for (int i = 0; i < 500; ++i) {
        try {
            if (what()) return true;
        } catch (const dorm::DatabaseError&) {
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return false;
}

/// Runs a shell command the test environment gives (stop / start the replica).
bool run_command(const char* variable) {
    const char* cmd = test::required_setting(variable, "the replica fault test");
    return cmd && std::system(cmd) == 0;
}
}  // namespace

TEST_CASE("reads routed to a streaming replica see what was written to the primary", "[replicas]") {
    test::Database db;
    if (!test::is_postgresql()) return;  // a PostgreSQL replica
    const char* url = replica_url();
    if (!url) return;
    dorm::databases().add("replica", url);
    Routing routing(std::make_shared<PrimaryReplicaRouter>());

    auto blog = Blog::objects().create({{"name", "Replicated"}, {"tagline", "first"}});  // to the primary
    CHECK(dorm::Instance::of(blog).db() == "default");
    REQUIRE(eventually([] { return Blog::objects().filter("name", "Replicated").exists(); }));  // read from the replica

    // The replica answers reads: its recovery flag, seen through the routed database.
    auto& replica = dorm::databases()["replica"].connection();
    auto c = replica.query("SELECT pg_is_in_recovery()", {});
    REQUIRE(c->next());
    CHECK(c->row()[0].i == 1);
    c.reset();

    // An instance read from the replica is saved to the primary (the router's db_for_write), and the change
    // arrives on the replica.
    auto loaded = Blog::objects().get("name", "Replicated");
    CHECK(dorm::Instance::of(loaded).db() == "replica");
    loaded.tagline = "second";
    loaded.save();
    CHECK(Blog::objects().using_("default").get("pk", blog.id).tagline == "second");
    CHECK(eventually([&] { return Blog::objects().get("pk", blog.id).tagline == "second"; }));
    // update() and delete_() go to the primary too.
    Blog::objects().filter("pk", blog.id).update({{"tagline", "third"}});
    CHECK(eventually([&] { return Blog::objects().get("pk", blog.id).tagline == "third"; }));
    CHECK(Blog::objects().filter("pk", blog.id).delete_().total == 1);
    CHECK(eventually([&] { return !Blog::objects().filter("pk", blog.id).exists(); }));
    dorm::databases().remove("replica");
}

TEST_CASE("writes sent to the replica fail with the server's read-only error", "[replicas]") {
    test::Database db;
    if (!test::is_postgresql()) return;
    const char* url = replica_url();
    if (!url) return;
    dorm::databases().add("replica", url);
    REQUIRE(eventually([] { return Blog::objects().using_("replica").count() == 0; }));
    // SQLSTATE 25006 (read_only_sql_transaction): psycopg's InternalError, as Django raises it.
    try {
        Blog::objects().using_("replica").create({{"name", "nowhere"}});
        FAIL("a write to the replica succeeded");
    } catch (const dorm::InternalError& e) {
        CHECK(e.code() == "25006");
        CHECK(std::string(e.what()).find("read-only transaction") != std::string::npos);
    }
    CHECK_THROWS_AS(Blog::objects().using_("replica").update({{"tagline", "x"}}), dorm::InternalError);
    Blog::objects().create({{"name", "on the primary"}});
    REQUIRE(eventually([] { return Blog::objects().using_("replica").count() == 1; }));
    CHECK_THROWS_AS(dorm::atomic([] { Blog::objects().using_("replica").delete_(); }, "replica"), dorm::InternalError);
    // The connection stays usable for reads, and nothing changed.
    CHECK(Blog::objects().using_("replica").count() == 1);
    CHECK(Blog::objects().count() == 1);
    dorm::databases().remove("replica");
}

TEST_CASE("a replica that goes away: reads fail over as the router decides, and return when it is back",
          "[replicas]") {
    test::Database db;
    if (!test::is_postgresql()) return;
    const char* url = replica_url();
    if (!url) return;
    dorm::databases().add("replica", url);
    auto router = std::make_shared<PrimaryReplicaRouter>();
    router->failover = true;
    Routing routing(router);
    Blog::objects().create({{"name", "kept"}});
    REQUIRE(eventually([] { return Blog::objects().count() == 1; }));
    CHECK(dorm::databases()["replica"].connection_count() == 1);  // reads went to the replica

    if (!run_command("DORM_TEST_REPLICA_STOP")) return;
    // Without failover a read on the replica fails; the router that checks is_usable() reads from the primary.
    CHECK_THROWS_AS(Blog::objects().using_("replica").count(), dorm::OperationalError);
    CHECK(Blog::objects().count() == 1);
    Blog::objects().create({{"name", "while away"}});
    CHECK(Blog::objects().count() == 2);
    CHECK_FALSE(dorm::databases()["replica"].is_usable());

    REQUIRE(run_command("DORM_TEST_REPLICA_START"));
    // The replica is reconnected to without restarting anything, and catches up.
    CHECK(eventually([] { return dorm::databases()["replica"].is_usable(); }));
    CHECK(eventually([] { return Blog::objects().using_("replica").count() == 2; }));
    CHECK(Blog::objects().count() == 2);
    dorm::databases().remove("replica");
}
